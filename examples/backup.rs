//! Encrypted backups of a file or folder with keylink.
//!
//! ```text
//! cargo run --release --example backup -- create <path> <backup-dir> [--password] [--code CODE]
//! cargo run --release --example backup -- list <backup-dir> [--code CODE | --password]
//! cargo run --release --example backup -- restore <backup-dir> <dest> (--code CODE | --password)
//! cargo run --release --example backup -- passwd <backup-dir>
//! ```
//!
//! `create` prints a new recovery code (or reuses the one given with `--code`) and writes
//! `<backup-dir>/backup-<unix time>.klb`; with `--password` it also writes the password
//! envelope `<backup-dir>/password.klpw`, a separate small file: `passwd` rewraps the key
//! under a new password and leaves every backup file untouched. `restore` reads the newest
//! backup in the folder into `<dest>`, which must not exist yet. Passwords come from the
//! environment (`KEYLINK_BACKUP_PASSWORD`, and `KEYLINK_BACKUP_NEW_PASSWORD` for `passwd`) or
//! else one line of standard input each, so the tool can be scripted. The account id is
//! `--account ID` (default `example-account`).
//!
//! The backed-up data is a small archive, opaque to keylink, inside the encrypted stream:
//!
//! ```text
//! archive = "KLARCH1\n" || entry* || 'E'
//! entry   = 'D' || u16be(len) || path                         (a directory)
//!         | 'F' || u16be(len) || path || u64be(size) || bytes (a file)
//! ```
//!
//! Paths are relative, `/`-separated UTF-8, without `.` or `..` components. Restoring writes
//! into a temporary folder next to `<dest>` and renames it only once the whole backup
//! authenticated, so a damaged backup leaves nothing behind.

use std::env;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressStyle};
use keylink::backup::{
    BackupError, BackupHeader, BackupKey, BackupReader, BackupWriter, PasswordEnvelope,
    RecoveryCode,
};

const USAGE: &str = "usage:
  backup create <path> <backup-dir> [--password] [--code CODE] [--account ID]
  backup list <backup-dir> [--code CODE | --password] [--account ID]
  backup restore <backup-dir> <dest> (--code CODE | --password) [--account ID]
  backup passwd <backup-dir>";
const ENVELOPE_FILE: &str = "password.klpw";
const BACKUP_EXT: &str = "klb";
const ARCHIVE_MAGIC: &[u8; 8] = b"KLARCH1\n";
const PASSWORD_VAR: &str = "KEYLINK_BACKUP_PASSWORD";
const NEW_PASSWORD_VAR: &str = "KEYLINK_BACKUP_NEW_PASSWORD";

type Result<T, E = Failure> = std::result::Result<T, E>;

/// What the tool reports: a plain sentence, no backtrace.
#[derive(Debug)]
struct Failure(String);

impl From<BackupError> for Failure {
    fn from(e: BackupError) -> Self {
        Failure(e.to_string())
    }
}

impl From<io::Error> for Failure {
    /// Keeps a backup error carried in an `io::Error` (from the streaming reader) readable.
    fn from(e: io::Error) -> Self {
        Failure::from(BackupError::from(e))
    }
}

fn fail<T>(message: impl Into<String>) -> Result<T> {
    Err(Failure(message.into()))
}

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(message)) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<()> {
    let opts = Options::parse(args)?;
    match (opts.command.as_str(), opts.positional.as_slice()) {
        ("create", [source, dir]) => create(&opts, Path::new(source), Path::new(dir)),
        ("list", [dir]) => list(&opts, Path::new(dir)),
        ("restore", [dir, dest]) => restore(&opts, Path::new(dir), Path::new(dest)),
        ("passwd", [dir]) => change_password(Path::new(dir)),
        _ => fail(USAGE),
    }
}

/// The command line: a command, its positional arguments and the options.
struct Options {
    command: String,
    positional: Vec<String>,
    code: Option<String>,
    password: bool,
    account: String,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self> {
        let Some((command, rest)) = args.split_first() else {
            return fail(USAGE);
        };
        let mut opts = Options {
            command: command.clone(),
            positional: Vec::new(),
            code: None,
            password: false,
            account: "example-account".to_owned(),
        };
        let mut it = rest.iter();
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--password" => opts.password = true,
                "--code" => opts.code = Some(value(it.next(), "--code")?),
                "--account" => opts.account = value(it.next(), "--account")?,
                flag if flag.starts_with("--") => return fail(format!("unknown option {flag}")),
                _ => opts.positional.push(arg.clone()),
            }
        }
        Ok(opts)
    }

    /// The key from `--code` or from the envelope and the password.
    fn key(&self, dir: &Path) -> Result<BackupKey> {
        match (&self.code, self.password) {
            (Some(code), false) => Ok(RecoveryCode::parse(code)?.backup_key()),
            (None, true) => open_envelope(dir),
            _ => fail("give either --code CODE or --password"),
        }
    }
}

fn value(arg: Option<&String>, flag: &str) -> Result<String> {
    arg.cloned()
        .map_or_else(|| fail(format!("{flag} needs a value")), Ok)
}

// ---- create ------------------------------------------------------------------------------

fn create(opts: &Options, source: &Path, dir: &Path) -> Result<()> {
    let (key, new_code) = match &opts.code {
        Some(code) => (RecoveryCode::parse(code)?.backup_key(), None),
        None => {
            let code = RecoveryCode::generate()?;
            (code.backup_key(), Some(code))
        }
    };
    fs::create_dir_all(dir)?;
    if opts.password {
        let password = read_password(PASSWORD_VAR, "new password")?;
        let envelope = PasswordEnvelope::seal(&key, password.as_bytes())?;
        fs::write(dir.join(ENVELOPE_FILE), envelope.to_bytes())?;
    }
    let path = dir.join(format!("backup-{}.{BACKUP_EXT}", unix_time()));
    let total = tree_size(source)?;
    let progress = progress_bar(total, "encrypting");
    let file = BufWriter::new(File::create(&path)?);
    let mut writer = BackupWriter::new(file, &key, opts.account.as_bytes())?;
    let mut archive = ArchiveWriter::new(&mut writer, &progress)?;
    archive.add_tree(source)?;
    archive.finish()?;
    writer
        .finish()?
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()?;
    progress.finish_and_clear();
    println!("wrote {} ({} of data)", path.display(), human(total));
    if let Some(code) = new_code {
        println!("recovery code (write it down; it is shown only once):");
        println!("  {}", *code.to_display_string());
    }
    Ok(())
}

fn unix_time() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Bytes of file data under `path` (a file or a folder).
fn tree_size(path: &Path) -> Result<u64> {
    let meta = fs::symlink_metadata(path)?;
    if !meta.is_dir() {
        return Ok(meta.len());
    }
    let mut total = 0;
    for entry in fs::read_dir(path)? {
        total += tree_size(&entry?.path())?;
    }
    Ok(total)
}

/// Writes the archive format described at the top of this file.
struct ArchiveWriter<'a, W: Write> {
    out: &'a mut W,
    progress: &'a ProgressBar,
}

impl<'a, W: Write> ArchiveWriter<'a, W> {
    fn new(out: &'a mut W, progress: &'a ProgressBar) -> Result<Self> {
        out.write_all(ARCHIVE_MAGIC)?;
        Ok(ArchiveWriter { out, progress })
    }

    /// Adds `source` under its own name: a file, or a folder with everything in it.
    fn add_tree(&mut self, source: &Path) -> Result<()> {
        let name = source
            .file_name()
            .and_then(|n| n.to_str())
            .map_or_else(|| fail("the path to back up needs a UTF-8 name"), Ok)?;
        self.add(source, name)
    }

    fn add(&mut self, path: &Path, name: &str) -> Result<()> {
        let meta = fs::symlink_metadata(path)?;
        if meta.is_dir() {
            self.entry(b'D', name)?;
            let mut children: Vec<_> = fs::read_dir(path)?.collect::<io::Result<_>>()?;
            children.sort_by_key(|c| c.file_name());
            for child in children {
                let child_name = child.file_name();
                let Some(child_name) = child_name.to_str() else {
                    return fail(format!("{} has a non-UTF-8 name", child.path().display()));
                };
                self.add(&child.path(), &format!("{name}/{child_name}"))?;
            }
        } else if meta.is_file() {
            self.entry(b'F', name)?;
            self.out.write_all(&meta.len().to_be_bytes())?;
            let copied = io::copy(&mut self.progress.wrap_read(File::open(path)?), self.out)?;
            if copied != meta.len() {
                return fail(format!("{} changed while it was backed up", path.display()));
            }
        } else {
            eprintln!("skipping {} (not a file or folder)", path.display());
        }
        Ok(())
    }

    fn entry(&mut self, kind: u8, name: &str) -> Result<()> {
        let len = u16::try_from(name.len()).map_or_else(|_| fail("a path is too long"), Ok)?;
        self.out.write_all(&[kind])?;
        self.out.write_all(&len.to_be_bytes())?;
        self.out.write_all(name.as_bytes())?;
        Ok(())
    }

    fn finish(self) -> Result<()> {
        self.out.write_all(b"E")?;
        Ok(())
    }
}

// ---- list --------------------------------------------------------------------------------

fn list(opts: &Options, dir: &Path) -> Result<()> {
    let backups = backups_in(dir)?;
    for path in &backups {
        let header = BackupHeader::read_from(&mut File::open(path)?)?;
        let size = fs::metadata(path)?.len();
        println!(
            "{}  {:>10}  backup id {}",
            path.display(),
            human(size),
            header.backup_id()
        );
    }
    let envelope = dir.join(ENVELOPE_FILE);
    if envelope.exists() {
        println!("{}  password envelope", envelope.display());
    }
    if opts.code.is_some() || opts.password {
        let newest = newest(&backups)?;
        println!("contents of {}:", newest.display());
        read_backup(opts, dir, newest, &mut Lister)?;
    }
    Ok(())
}

/// All backup files in `dir`, oldest first.
fn backups_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut backups: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == BACKUP_EXT))
        .collect();
    backups.sort();
    Ok(backups)
}

fn newest(backups: &[PathBuf]) -> Result<&PathBuf> {
    backups
        .last()
        .map_or_else(|| fail("no backup (*.klb) in that folder"), Ok)
}

// ---- restore -----------------------------------------------------------------------------

fn restore(opts: &Options, dir: &Path, dest: &Path) -> Result<()> {
    if dest.exists() {
        return fail(format!(
            "{} already exists; choose a new folder",
            dest.display()
        ));
    }
    let backup = newest(&backups_in(dir)?)?.clone();
    let staging = staging_dir(dest)?;
    fs::create_dir_all(&staging)?;
    let result = read_backup(opts, dir, &backup, &mut Extractor { root: &staging });
    match result {
        Ok(()) => fs::rename(&staging, dest)?,
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            return Err(e);
        }
    }
    println!("restored {} into {}", backup.display(), dest.display());
    Ok(())
}

/// A fresh folder beside `dest` to restore into.
fn staging_dir(dest: &Path) -> Result<PathBuf> {
    let name = dest
        .file_name()
        .and_then(|n| n.to_str())
        .map_or_else(|| fail("the destination needs a UTF-8 name"), Ok)?;
    Ok(dest.with_file_name(format!(".{name}.partial-{}", std::process::id())))
}

/// Opens `backup` with the key from the options and feeds its archive to `sink`, with a
/// progress bar over the backup file's bytes.
fn read_backup(opts: &Options, dir: &Path, backup: &Path, sink: &mut dyn Sink) -> Result<()> {
    let key = opts.key(dir)?;
    let file = File::open(backup)?;
    let progress = progress_bar(file.metadata()?.len(), "decrypting");
    let input = BufReader::with_capacity(1 << 16, progress.wrap_read(file));
    let mut reader = BackupReader::new(input, &key, opts.account.as_bytes())?;
    read_archive(&mut reader, sink)?;
    let mut rest = [0u8; 1];
    if reader.read(&mut rest)? != 0 {
        return fail("the archive in the backup has data after its end");
    }
    progress.finish_and_clear();
    Ok(())
}

/// What is done with each archive entry.
trait Sink {
    fn dir(&mut self, path: &Path) -> Result<()>;
    fn file(&mut self, path: &Path, data: &mut dyn Read, size: u64) -> Result<()>;
}

struct Lister;

impl Sink for Lister {
    fn dir(&mut self, path: &Path) -> Result<()> {
        println!("  {}/", path.display());
        Ok(())
    }

    fn file(&mut self, path: &Path, data: &mut dyn Read, size: u64) -> Result<()> {
        io::copy(data, &mut io::sink())?;
        println!("  {}  {}", path.display(), human(size));
        Ok(())
    }
}

struct Extractor<'a> {
    root: &'a Path,
}

impl Sink for Extractor<'_> {
    fn dir(&mut self, path: &Path) -> Result<()> {
        fs::create_dir_all(self.root.join(path))?;
        Ok(())
    }

    fn file(&mut self, path: &Path, data: &mut dyn Read, _size: u64) -> Result<()> {
        let mut out = BufWriter::new(File::create(self.root.join(path))?);
        io::copy(data, &mut out)?;
        out.flush()?;
        Ok(())
    }
}

/// Reads the archive format described at the top of this file.
fn read_archive(r: &mut dyn Read, sink: &mut dyn Sink) -> Result<()> {
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic)?;
    if &magic != ARCHIVE_MAGIC {
        return fail("the backup does not hold an archive of this tool");
    }
    loop {
        let [kind] = read_array::<1>(r)?;
        match kind {
            b'E' => return Ok(()),
            b'D' => sink.dir(&read_path(r)?)?,
            b'F' => {
                let path = read_path(r)?;
                let size = u64::from_be_bytes(read_array(r)?);
                let mut data = r.take(size);
                sink.file(&path, &mut data, size)?;
                if data.limit() != 0 {
                    return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
                }
            }
            other => return fail(format!("unknown archive entry {other:#04x}")),
        }
    }
}

fn read_array<const N: usize>(r: &mut dyn Read) -> Result<[u8; N]> {
    let mut buf = [0u8; N];
    r.read_exact(&mut buf)?;
    Ok(buf)
}

/// A relative path without `.`/`..`, so nothing is written outside the destination.
fn read_path(r: &mut dyn Read) -> Result<PathBuf> {
    let len = u16::from_be_bytes(read_array(r)?);
    let mut bytes = vec![0u8; usize::from(len)];
    r.read_exact(&mut bytes)?;
    let text = String::from_utf8(bytes).map_or_else(|_| fail("a path is not UTF-8"), Ok)?;
    let path = PathBuf::from(text);
    let safe = path.components().all(|c| matches!(c, Component::Normal(_)));
    if !safe || path.as_os_str().is_empty() {
        return fail(format!("unsafe path in archive: {}", path.display()));
    }
    Ok(path)
}

// ---- passwords ---------------------------------------------------------------------------

fn open_envelope(dir: &Path) -> Result<BackupKey> {
    let envelope = load_envelope(dir)?;
    let password = read_password(PASSWORD_VAR, "password")?;
    eprintln!("deriving the key from the password (Argon2id)...");
    Ok(envelope.open(password.as_bytes())?)
}

fn load_envelope(dir: &Path) -> Result<PasswordEnvelope> {
    let path = dir.join(ENVELOPE_FILE);
    let bytes = fs::read(&path).map_err(|e| {
        Failure(format!(
            "no password was set for these backups ({}: {e}); use --code",
            path.display()
        ))
    })?;
    Ok(PasswordEnvelope::try_from(bytes.as_slice())?)
}

fn change_password(dir: &Path) -> Result<()> {
    let envelope = load_envelope(dir)?;
    let old = read_password(PASSWORD_VAR, "current password")?;
    let new = read_password(NEW_PASSWORD_VAR, "new password")?;
    let rewrapped = envelope.change_password(old.as_bytes(), new.as_bytes())?;
    let path = dir.join(ENVELOPE_FILE);
    let temp = dir.join(format!("{ENVELOPE_FILE}.new"));
    fs::write(&temp, rewrapped.to_bytes())?;
    fs::rename(&temp, &path)?;
    println!("password changed; the backup files were not touched");
    Ok(())
}

/// The password from the environment variable `var`, or else one line of standard input.
fn read_password(var: &str, what: &str) -> Result<String> {
    if let Ok(password) = env::var(var) {
        return Ok(password);
    }
    eprint!("{what} (or set {var}): ");
    io::stderr().flush()?;
    let mut line = String::new();
    io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        return fail("no password given");
    }
    Ok(password)
}

// ---- output ------------------------------------------------------------------------------

fn progress_bar(total: u64, what: &str) -> ProgressBar {
    let style = ProgressStyle::with_template(
        "{msg:>10} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    let bar = ProgressBar::new(total).with_style(style);
    bar.set_message(what.to_owned());
    bar
}

fn human(bytes: u64) -> String {
    indicatif::BinaryBytes(bytes).to_string()
}
