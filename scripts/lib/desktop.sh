# Helpers for the desktop app's build and tests, sourced by scripts/test and
# scripts/package: the Debian packages Tauri needs on Linux, and tauri-driver.

DESKTOP_PACKAGES="libwebkit2gtk-4.1-dev libgtk-3-dev librsvg2-dev libsoup-3.0-dev xvfb xauth webkit2gtk-driver"
TAURI_DRIVER_VERSION="2.1.0"

# Installs the Debian packages Tauri builds and runs against, when any is missing.
ensure_desktop_packages() {
    local missing=()
    for pkg in $DESKTOP_PACKAGES; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing Debian packages for the desktop app; run: sudo apt-get install -y ${missing[*]}" >&2
        return 1
    fi
    echo "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Puts tauri-driver (the WebDriver bridge for Tauri apps) on PATH, from crates.io.
ensure_tauri_driver() {
    export PATH="$HOME/.cargo/bin:$PATH"
    if tauri-driver --help >/dev/null 2>&1; then
        return 0
    fi
    cargo install tauri-driver --version "$TAURI_DRIVER_VERSION" --locked
}
