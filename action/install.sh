#!/usr/bin/env bash
# The action's install step: portwarden from the release files (the static Linux binary or the macOS build),
# checked against the release's SHA256SUMS; `cargo install` from the repository when there is no release file
# for this runner or the download fails. Puts portwarden on PATH for the job's later steps.
#
# Environment: PW_VERSION ("latest" or a version such as 0.1.0), PW_REPOSITORY (owner/name), PW_RELEASES (base URL
# of the releases; the action passes https://github.com/OWNER/NAME/releases), RUNNER_OS, RUNNER_ARCH,
# RUNNER_TEMP, GITHUB_PATH (set by the runner).
set -euo pipefail

dir="$RUNNER_TEMP/portwarden"
mkdir -p "$dir/bin"
case "$RUNNER_OS/$RUNNER_ARCH" in
  Linux/X64) triple=x86_64-unknown-linux-musl ;;
  macOS/ARM64) triple=aarch64-apple-darwin ;;
  macOS/X64) triple=x86_64-apple-darwin ;;
  *) triple= ;;
esac
if [ "$PW_VERSION" = latest ]; then
  url="$PW_RELEASES/latest/download"
else
  url="$PW_RELEASES/download/v${PW_VERSION#v}"
fi

from_release() {
  [ -n "$triple" ] || { echo "no release file for $RUNNER_OS/$RUNNER_ARCH"; return 1; }
  local work="$dir/download"
  rm -rf "$work" && mkdir -p "$work"
  curl --fail --silent --show-error --location --retry 3 -o "$work/SHA256SUMS" "$url/SHA256SUMS" || return 1
  local asset
  asset=$(grep -oE "portwarden-[0-9A-Za-z.+-]+-$triple\.tar\.gz$" "$work/SHA256SUMS" | head -n 1)
  [ -n "$asset" ] || { echo "SHA256SUMS at $url names no file for $triple"; return 1; }
  curl --fail --silent --show-error --location --retry 3 -o "$work/$asset" "$url/$asset" || return 1
  # Only the line of this file: the others were not downloaded.
  (cd "$work" && grep -E "  $asset\$" SHA256SUMS | sha256sum --check --strict --quiet) || {
    echo "::error title=portwarden::$asset does not match SHA256SUMS"
    return 1
  }
  tar -xzf "$work/$asset" -C "$work"
  install -m 0755 "$work/${asset%.tar.gz}/portwarden" "$dir/bin/portwarden"
  echo "installed $asset from $url"
}

from_source() {
  echo "building portwarden with cargo install (a few minutes)"
  local tag=()
  [ "$PW_VERSION" = latest ] || tag=(--tag "v${PW_VERSION#v}")
  cargo install --locked --root "$dir" --git "https://github.com/$PW_REPOSITORY" "${tag[@]}" portwarden
}

if ! from_release; then
  echo "::warning title=portwarden::no usable release file at $url; falling back to cargo install"
  from_source
fi
echo "$dir/bin" >> "$GITHUB_PATH"
"$dir/bin/portwarden" --version
