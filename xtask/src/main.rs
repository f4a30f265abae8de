//! portwarden's release automation (the cargo-xtask convention: `cargo xtask dist`, alias in `.cargo/config.toml`).
//!
//! `cargo xtask dist` builds into `target/dist/`:
//! - `portwarden-VERSION-x86_64-unknown-linux-musl.tar.gz`: static binary, man page, bash/zsh/fish completions,
//!   README, licences;
//! - `portwarden-VERSION-x86_64-pc-windows-gnu.zip`: `portwarden.exe`, README, licences;
//! - `portwarden_VERSION-1_amd64.deb` (cargo-deb);
//! - `SHA256SUMS`;
//!
//! then checks what it built (`verify`): each archive's file list, the Linux binary static and running with an
//! empty environment, the package's contents, installed into and removed from a scratch dpkg root, and the sums.
//! `--target TRIPLE` (repeatable) builds only those archives (the release workflow's macOS job uses it); `--no-deb`
//! skips the package.

mod archive;
mod elf;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

pub type Result<T> = std::result::Result<T, String>;

const LINUX: &str = "x86_64-unknown-linux-musl";
const WINDOWS: &str = "x86_64-pc-windows-gnu";
/// The documents every archive carries.
const DOCS: [&str; 3] = ["README.md", "LICENSE-MIT", "LICENSE-APACHE"];

const USAGE: &str = "usage: cargo xtask dist [--target TRIPLE]... [--no-deb]
       cargo xtask verify [DIR]     check the files dist made (default target/dist)
       cargo xtask version          print the version the files are named with

dist builds the release files into target/dist: by default the static Linux tarball, the Windows zip, the .deb
and SHA256SUMS; --target builds only the archives of the targets named (a tarball for a Unix target, a zip for a
Windows one). Needs: the rustup targets, x86_64-w64-mingw32-gcc (Debian: mingw-w64) for Windows, cargo-deb
(`cargo install cargo-deb --locked`) for the .deb, tar, zip, sha256sum.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("dist") => parse_dist(&args[1..]).and_then(|opts| dist(&opts)),
        Some("verify") => {
            let dir = args.get(1).map(PathBuf::from).unwrap_or_else(|| root().join("target/dist"));
            verify(&dir)
        }
        Some("version") => version().map(|v| println!("{v}")),
        Some("-h" | "--help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => Err(format!("unknown or missing task\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::from(2)
        }
    }
}

struct DistOptions {
    targets: Vec<String>,
    deb: bool,
}

fn parse_dist(args: &[String]) -> Result<DistOptions> {
    let mut targets = Vec::new();
    let mut deb = true;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--target" => targets.push(it.next().ok_or("--target needs a target triple")?.clone()),
            "--no-deb" => deb = false,
            other => return Err(format!("unknown option {other:?}\n{USAGE}")),
        }
    }
    if targets.is_empty() {
        targets = vec![LINUX.to_string(), WINDOWS.to_string()];
    }
    // The package holds the static Linux binary; without that build there is nothing to package.
    let deb = deb && targets.iter().any(|t| t == LINUX);
    Ok(DistOptions { targets, deb })
}

/// The workspace root (xtask's parent directory).
pub fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

/// portwarden's version, from the `[package]` table of the root Cargo.toml.
pub fn version() -> Result<String> {
    let path = root().join("Cargo.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    package_version(&text).ok_or_else(|| format!("{}: no version in [package]", path.display()))
}

fn package_version(manifest: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package {
            if let Some(v) = line.strip_prefix("version").map(str::trim_start).and_then(|r| r.strip_prefix('=')) {
                return Some(v.trim().trim_matches('"').to_string());
            }
        }
    }
    None
}

/// Runs a command, failing with its command line when it fails or cannot start.
pub fn run(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let status = cmd.status().map_err(|e| format!("{shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed ({status})"))
    }
}

/// Runs a command and returns its standard output.
pub fn output(cmd: &mut Command) -> Result<Vec<u8>> {
    let shown = format!("{cmd:?}");
    let out = cmd.output().map_err(|e| format!("{shown}: {e}"))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(format!("{shown} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim()))
    }
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(root());
    c
}

fn is_windows(target: &str) -> bool {
    target.contains("windows")
}

fn dist(opts: &DistOptions) -> Result<()> {
    let version = version()?;
    let root = root();
    let dist = root.join("target/dist");
    // Start clean: a file from an earlier version must not end up in SHA256SUMS.
    if dist.exists() {
        std::fs::remove_dir_all(&dist).map_err(|e| format!("{}: {e}", dist.display()))?;
    }
    let generated = dist.join("generated");
    std::fs::create_dir_all(&generated).map_err(|e| format!("{}: {e}", generated.display()))?;
    let mut made_pages = false;
    for target in &opts.targets {
        eprintln!("xtask: building portwarden {version} for {target}");
        run(cargo().args(["build", "--locked", "--profile", "ship", "--bin", "portwarden", "--target", target]))?;
        let built = root.join("target").join(target).join("ship");
        if is_windows(target) {
            let exe = built.join("portwarden.exe");
            archive::zip(&dist, &format!("portwarden-{version}-{target}"), &exe)?;
        } else {
            let bin = built.join("portwarden");
            // The man page and completions come from the binary itself (clap_mangen, clap_complete), so they
            // always match its options. A Unix target is built on a machine that runs it (the macOS job too).
            if !made_pages {
                generate_pages(&bin, &generated)?;
                made_pages = true;
            }
            archive::tarball(&dist, &format!("portwarden-{version}-{target}"), &bin, &generated)?;
        }
    }
    if opts.deb {
        deb(&version, &dist)?;
    }
    std::fs::remove_dir_all(&generated).map_err(|e| format!("{}: {e}", generated.display()))?;
    archive::sums(&dist)?;
    verify(&dist)?;
    eprintln!("xtask: release files in {}", dist.display());
    Ok(())
}

/// The names of the generated pages, as they are installed.
pub const PAGES: [&str; 4] = ["portwarden.1", "portwarden.bash", "_portwarden", "portwarden.fish"];

fn generate_pages(bin: &Path, into: &Path) -> Result<()> {
    let write = |name: &str, args: &[&str]| -> Result<()> {
        let text = output(Command::new(bin).args(args))?;
        if text.is_empty() {
            return Err(format!("{} {args:?} printed nothing", bin.display()));
        }
        std::fs::write(into.join(name), text).map_err(|e| format!("{name}: {e}"))
    };
    write(PAGES[0], &["man"])?;
    write(PAGES[1], &["completions", "bash"])?;
    write(PAGES[2], &["completions", "zsh"])?;
    write(PAGES[3], &["completions", "fish"])
}

/// The Debian package, by cargo-deb from `[package.metadata.deb]` in Cargo.toml (whose assets name the generated
/// pages under target/dist/generated).
fn deb(version: &str, dist: &Path) -> Result<()> {
    let name = format!("portwarden_{version}-1_amd64.deb");
    let probe = cargo().args(["deb", "--version"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        return Err("cargo-deb is not installed (cargo install cargo-deb --locked), or pass --no-deb".into());
    }
    eprintln!("xtask: packaging {name}");
    run(cargo()
        .args(["deb", "--no-build", "--profile", "ship", "--target", LINUX, "--deb-revision", "1", "--output"])
        .arg(dist.join(&name)))
}

/// Checks the files in `dir` (what `dist` made, or a release's download).
fn verify(dir: &Path) -> Result<()> {
    let checks = archive::verify(dir)?;
    for c in &checks {
        eprintln!("xtask: ok: {c}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_package_version() {
        let m = "[workspace]\nversion = \"9\"\n[package]\nname = \"x\"\nversion = \"1.2.3\"\n[dependencies]\n";
        assert_eq!(package_version(m).as_deref(), Some("1.2.3"));
        assert_eq!(package_version("[dependencies]\nversion = \"1\"\n"), None);
        assert!(version().is_ok_and(|v| v.split('.').count() == 3));
    }

    #[test]
    fn default_targets_and_the_package() {
        let o = parse_dist(&[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(o.targets, [LINUX, WINDOWS]);
        assert!(o.deb);
        let mac = ["--target".to_string(), "aarch64-apple-darwin".to_string()];
        let o = parse_dist(&mac).unwrap_or_else(|e| panic!("{e}"));
        assert!(!o.deb, "no package without the Linux build");
        assert!(parse_dist(&["--bogus".to_string()]).is_err());
        assert!(parse_dist(&["--target".to_string()]).is_err());
    }
}
