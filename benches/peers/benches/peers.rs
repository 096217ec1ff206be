//! keylink next to vodozemac's Olm, each operation beside its peer in one criterion group:
//! encrypt and decrypt 100 B, setup (initiator, responder), ping-pong, serialization and a
//! fan-out to 1,000 sessions. See `src/peer.rs` for what each side does.

use criterion::{Criterion, criterion_group, criterion_main};

fn peers(c: &mut Criterion) {
    let mut ops = keylink_peers::peer::all();
    while !ops.is_empty() {
        let group_name = ops[0].group;
        let mut group = c.benchmark_group(group_name);
        for mut op in ops.extract_if(.., |op| op.group == group_name) {
            group.bench_function(op.name, |b| b.iter_custom(|n| (op.run)(n)));
        }
        group.finish();
    }
}

criterion_group!(benches, peers);
criterion_main!(benches);
