//! Making the release files (tar, zip, sha256sum) and checking them (their listings, the binaries, the package
//! installed into a scratch dpkg root).

use crate::{elf, output, root, run, Result, DOCS, PAGES};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn copy(from: &Path, to: &Path) -> Result<()> {
    std::fs::copy(from, to).map(drop).map_err(|e| format!("copy {} to {}: {e}", from.display(), to.display()))
}

fn mkdir(d: &Path) -> Result<()> {
    std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))
}

/// A fresh scratch directory under target/ (removed by the caller).
fn scratch(name: &str) -> Result<PathBuf> {
    let d = root().join("target").join(format!("xtask-{name}-{}", std::process::id()));
    if d.exists() {
        std::fs::remove_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    mkdir(&d)?;
    Ok(d)
}

/// `NAME.tar.gz` holding `NAME/`: the binary, the man page, `complete/` and the documents.
pub fn tarball(dist: &Path, name: &str, bin: &Path, pages: &Path) -> Result<()> {
    let stage = scratch("stage")?;
    let top = stage.join(name);
    mkdir(&top.join("complete"))?;
    copy(bin, &top.join("portwarden"))?;
    copy(&pages.join(PAGES[0]), &top.join(PAGES[0]))?;
    for page in &PAGES[1..] {
        copy(&pages.join(page), &top.join("complete").join(page))?;
    }
    for doc in DOCS {
        copy(&root().join(doc), &top.join(doc))?;
    }
    let file = dist.join(format!("{name}.tar.gz"));
    let mut tar = Command::new("tar");
    // GNU tar: owner and group 0 and sorted names, so the listing does not depend on who built it. (macOS's bsdtar,
    // in the release workflow's macOS job, has other options for that.)
    if cfg!(target_os = "linux") {
        tar.args(["--sort=name", "--owner=0", "--group=0", "--numeric-owner"]);
    }
    let made = run(tar.arg("-czf").arg(&file).arg("-C").arg(&stage).arg(name));
    let _ = std::fs::remove_dir_all(&stage);
    made
}

/// `NAME.zip` holding `NAME/`: `portwarden.exe` and the documents.
pub fn zip(dist: &Path, name: &str, exe: &Path) -> Result<()> {
    let stage = scratch("stage")?;
    let top = stage.join(name);
    mkdir(&top)?;
    copy(exe, &top.join("portwarden.exe"))?;
    for doc in DOCS {
        copy(&root().join(doc), &top.join(doc))?;
    }
    let file = dist.join(format!("{name}.zip"));
    let made = run(Command::new("zip").args(["-q", "-r", "-X"]).arg(&file).arg(name).current_dir(&stage));
    let _ = std::fs::remove_dir_all(&stage);
    made
}

/// The release files in `dist`, sorted (everything but SHA256SUMS and directories).
fn files(dist: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dist).map_err(|e| format!("{}: {e}", dist.display()))? {
        let entry = entry.map_err(|e| format!("{}: {e}", dist.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().is_file() && name != "SHA256SUMS" {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// `sha256sum`, or on macOS (which lacks it) `shasum -a 256`, which reads and writes the same format.
fn sha256sum() -> Command {
    if Command::new("sha256sum").arg("--version").output().is_ok() {
        Command::new("sha256sum")
    } else {
        let mut c = Command::new("shasum");
        c.args(["-a", "256"]);
        c
    }
}

/// `SHA256SUMS` in the format `sha256sum -c` reads.
pub fn sums(dist: &Path) -> Result<()> {
    let names = files(dist)?;
    let text = output(sha256sum().args(&names).current_dir(dist))?;
    std::fs::write(dist.join("SHA256SUMS"), text).map_err(|e| format!("SHA256SUMS: {e}"))
}

fn lines(bytes: &[u8]) -> BTreeSet<String> {
    String::from_utf8_lossy(bytes).lines().map(|l| l.trim_end_matches('/').to_string()).collect()
}

fn expect_listing(file: &str, got: &BTreeSet<String>, want: &BTreeSet<String>) -> Result<()> {
    if got == want {
        return Ok(());
    }
    let missing: Vec<_> = want.difference(got).collect();
    let extra: Vec<_> = got.difference(want).collect();
    Err(format!("{file}: missing {missing:?}, unexpected {extra:?}"))
}

/// What a tarball must hold, exactly.
fn tar_listing(name: &str) -> BTreeSet<String> {
    let mut want: BTreeSet<String> =
        [name.to_string(), format!("{name}/portwarden"), format!("{name}/complete")].into();
    want.insert(format!("{name}/{}", PAGES[0]));
    want.extend(PAGES[1..].iter().map(|p| format!("{name}/complete/{p}")));
    want.extend(DOCS.iter().map(|d| format!("{name}/{d}")));
    want
}

/// What a zip must hold, exactly.
fn zip_listing(name: &str) -> BTreeSet<String> {
    let mut want: BTreeSet<String> = [name.to_string(), format!("{name}/portwarden.exe")].into();
    want.extend(DOCS.iter().map(|d| format!("{name}/{d}")));
    want
}

/// Where the package puts its files (dpkg-deb -c shows them as `./usr/...`).
pub const DEB_FILES: [&str; 5] = [
    "./usr/bin/portwarden",
    "./usr/share/man/man1/portwarden.1",
    "./usr/share/bash-completion/completions/portwarden",
    "./usr/share/zsh/vendor-completions/_portwarden",
    "./usr/share/fish/vendor_completions.d/portwarden.fish",
];

/// Checks every release file in `dir`; returns what was checked.
pub fn verify(dir: &Path) -> Result<Vec<String>> {
    let mut done = Vec::new();
    let names = files(dir)?;
    if names.is_empty() {
        return Err(format!("{}: no release files", dir.display()));
    }
    for file in &names {
        let path = dir.join(file);
        if let Some(name) = file.strip_suffix(".tar.gz") {
            let got = lines(&output(Command::new("tar").arg("-tzf").arg(&path))?);
            expect_listing(file, &got, &tar_listing(name))?;
            done.push(format!("{file}: binary, man page, 3 completions, README, licences"));
            if name.ends_with("-linux-musl") && cfg!(all(target_os = "linux", target_arch = "x86_64")) {
                done.push(check_linux_binary(&path, name)?);
            }
        } else if let Some(name) = file.strip_suffix(".zip") {
            let got = lines(&output(Command::new("unzip").arg("-Z1").arg(&path))?);
            expect_listing(file, &got, &zip_listing(name))?;
            let exe = output(Command::new("unzip").arg("-p").arg(&path).arg(format!("{name}/portwarden.exe")))?;
            if !exe.starts_with(b"MZ") {
                return Err(format!("{file}: portwarden.exe is not a Windows executable"));
            }
            done.push(format!("{file}: portwarden.exe ({} bytes), README, licences", exe.len()));
        } else if file.ends_with(".deb") {
            done.push(check_deb(&path, file)?);
        } else {
            return Err(format!("{}: not a release file", path.display()));
        }
    }
    let listed = lines(&std::fs::read(dir.join("SHA256SUMS")).map_err(|e| format!("SHA256SUMS: {e}"))?);
    let listed: BTreeSet<String> =
        listed.iter().filter_map(|l| l.split_once("  ").map(|(_, name)| name.to_string())).collect();
    let names: BTreeSet<String> = names.into_iter().collect();
    expect_listing("SHA256SUMS", &listed, &names)?;
    output(sha256sum().args(["--check", "SHA256SUMS"]).current_dir(dir))?;
    done.push(format!("SHA256SUMS: {} files, sums match", names.len()));
    Ok(done)
}

/// The binary from the tarball is static and runs with an empty environment (no PATH, no Rust, no HOME).
fn check_linux_binary(tarball: &Path, name: &str) -> Result<String> {
    let dir = scratch("unpack")?;
    let result = (|| {
        run(Command::new("tar").arg("-xzf").arg(tarball).arg("-C").arg(&dir))?;
        let bin = dir.join(name).join("portwarden");
        let bytes = std::fs::read(&bin).map_err(|e| format!("{}: {e}", bin.display()))?;
        if !elf::is_static(&bytes)? {
            return Err(format!("{name}/portwarden names a program interpreter: it is not static"));
        }
        let version = output(Command::new(&bin).arg("--version").env_clear())?;
        let version = String::from_utf8_lossy(&version).trim().to_string();
        let info = output(Command::new(&bin).args(["registry", "info"]).env_clear())?;
        if !String::from_utf8_lossy(&info).contains("built-in") {
            return Err(format!("{name}/portwarden registry info: no built-in registry"));
        }
        // The man page is roff that man(1) renders: it starts with a title line.
        let page = std::fs::read_to_string(dir.join(name).join(PAGES[0])).map_err(|e| format!("man page: {e}"))?;
        if !page.contains(".TH portwarden") {
            return Err(format!("{name}/{}: no .TH title line", PAGES[0]));
        }
        // As root: in an empty root directory (no libc, no loader, no /proc, nothing), as on a machine without Rust
        // or any library.
        let alone = if is_root() && Path::new("/usr/sbin/chroot").exists() {
            let empty = dir.join("empty-root");
            mkdir(&empty)?;
            copy(&bin, &empty.join("portwarden"))?;
            output(Command::new("/usr/sbin/chroot").arg(&empty).args(["/portwarden", "registry", "info"]).env_clear())?;
            ", and in an empty chroot"
        } else {
            ""
        };
        Ok(format!(
            "{name}/portwarden: static ({} bytes), runs with an empty environment{alone}: {version}",
            bytes.len()
        ))
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .is_ok_and(|s| s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")))
}

/// The package's fields and files, then `dpkg --install` into a scratch root and `dpkg --remove` from it.
fn check_deb(deb: &Path, file: &str) -> Result<String> {
    let fields = output(Command::new("dpkg-deb").arg("--field").arg(deb).args(["Package", "Architecture", "Depends"]))?;
    let fields = String::from_utf8_lossy(&fields).into_owned();
    if !fields.contains("Package: portwarden") || !fields.contains("Architecture: amd64") {
        return Err(format!("{file}: unexpected control fields:\n{fields}"));
    }
    if fields.contains("Depends:") {
        return Err(format!("{file}: a static binary should depend on nothing:\n{fields}"));
    }
    let listing = output(Command::new("dpkg-deb").arg("--contents").arg(deb))?;
    // Lines end with the path; a man page may be compressed.
    let paths: BTreeSet<String> = String::from_utf8_lossy(&listing)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5).map(|p| p.trim_end_matches(".gz").to_string()))
        .collect();
    for want in DEB_FILES {
        if !paths.contains(want) {
            return Err(format!("{file}: no {want} in the package (dpkg-deb -c)"));
        }
    }
    if Command::new("dpkg").arg("--version").output().is_err() {
        return Ok(format!("{file}: fields and {} files (dpkg not here: not installed)", DEB_FILES.len()));
    }
    let root = scratch("dpkg")?;
    let result = install_and_remove(deb, file, &root);
    let _ = std::fs::remove_dir_all(&root);
    result
}

fn install_and_remove(deb: &Path, file: &str, root: &Path) -> Result<String> {
    let admin = root.join("var/lib/dpkg");
    for d in ["info", "updates", "triggers"] {
        mkdir(&admin.join(d))?;
    }
    std::fs::write(admin.join("status"), "").map_err(|e| format!("dpkg status: {e}"))?;
    let dpkg = || {
        let mut c = Command::new("dpkg");
        c.arg(format!("--root={}", root.display())).args([
            "--log=/dev/null",
            "--force-not-root",
            "--force-script-chrootless",
        ]);
        c
    };
    output(dpkg().arg("--install").arg(deb))?;
    let installed: Vec<PathBuf> = DEB_FILES.iter().map(|f| root.join(f.trim_start_matches("./"))).collect();
    let present = |p: &PathBuf| p.exists() || PathBuf::from(format!("{}.gz", p.display())).exists();
    if let Some(missing) = installed.iter().find(|p| !present(p)) {
        return Err(format!("{file}: dpkg --install did not put {} in place", missing.display()));
    }
    let ran = output(Command::new(root.join("usr/bin/portwarden")).arg("--version").env_clear())?;
    output(dpkg().args(["--remove", "portwarden"]))?;
    if let Some(left) = installed.iter().find(|p| present(p)) {
        return Err(format!("{file}: dpkg --remove left {}", left.display()));
    }
    Ok(format!(
        "{file}: {} files in place after dpkg --install (a scratch root), gone after dpkg --remove; the installed binary \
         runs: {}",
        DEB_FILES.len(),
        String::from_utf8_lossy(&ran).trim()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_name_every_file() {
        let t = tar_listing("portwarden-1.0.0-x86_64-unknown-linux-musl");
        assert_eq!(t.len(), 3 + 1 + 3 + 3);
        assert!(t.contains("portwarden-1.0.0-x86_64-unknown-linux-musl/complete/_portwarden"));
        let z = zip_listing("p");
        assert_eq!(z.len(), 5);
        assert!(expect_listing("x", &z, &z).is_ok());
        let mut less = z.clone();
        less.remove("p/README.md");
        let e = expect_listing("x", &less, &z).err().unwrap_or_default();
        assert!(e.contains("missing") && e.contains("README"), "{e}");
    }
}
