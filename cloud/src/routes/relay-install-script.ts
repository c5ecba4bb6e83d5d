/**
 * The script a technician pastes on a site box (GET /v1/relays/install.sh), with the control plane's
 * URL written in for __CLOUD__. Plain POSIX sh with what a minimal Debian has (dpkg, sha256sum,
 * runuser, ip) plus curl, which the pasted command needs anyway. Tested by installing on a Debian
 * booted under systemd-nspawn (test/appliance/appliance.test.ts).
 */
export const INSTALL_SCRIPT_TEMPLATE = `#!/bin/sh
# edgeboot relay installer, served by the control plane at __CLOUD__/v1/relays/install.sh:
#
#   curl -fsSL __CLOUD__/v1/relays/install.sh | sudo sh -s -- --code XXXX-XXXX [--interface IF] [--public-url URL] [--name NAME]
#
# Downloads the relay's .deb from the control plane, checks its published sha256, installs it
# (service user, state directory, systemd unit), enrolls as the service user and starts the relay,
# then waits until it serves. Safe to run again: a box already enrolled is not enrolled twice, and
# the enrollment code is only sent once the package is installed (a failed download or install
# never spends it).
set -eu
CLOUD='__CLOUD__'
code=''
iface=''
public_url=''
name=''
say() { echo "edgeboot install: $*" >&2; }
fail() {
  say "$*"
  exit 1
}
while [ $# -gt 0 ]; do
  case $1 in
  --code) code=\${2:-}; shift 2 ;;
  --interface) iface=\${2:-}; shift 2 ;;
  --public-url) public_url=\${2:-}; shift 2 ;;
  --name) name=\${2:-}; shift 2 ;;
  *) fail "unknown option $1 (options: --code CODE [--interface IF] [--public-url URL] [--name NAME])" ;;
  esac
done
[ -n "$code" ] || fail "--code CODE is required: create one on the console's site page, or with: edgeboot relays enroll-code SITE"
[ "$(id -u)" = 0 ] || fail "run it as root: curl -fsSL $CLOUD/v1/relays/install.sh | sudo sh -s -- --code …"
command -v dpkg >/dev/null 2>&1 || fail "this installer needs a Debian or Ubuntu box (dpkg); elsewhere run the edgeboot-relay executable under your own supervisor"
[ -d /run/systemd/system ] || fail "systemd is not running on this box"
case $(dpkg --print-architecture) in
amd64) arch=x64 ;;
arm64) arch=arm64 ;;
*) fail "no relay build for $(dpkg --print-architecture)" ;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
say "asking $CLOUD for the relay package ($arch)"
curl -fsS "$CLOUD/v1/relays/packages/latest?arch=$arch" -o "$tmp/release" || fail "cannot reach $CLOUD/v1/relays/packages/latest (curl status $?); the enrollment code was not used"
version=$(sed -n 's/^version=\\([0-9A-Za-z.+-]*\\)$/\\1/p' "$tmp/release")
sha=$(sed -n 's/^sha256=\\([0-9a-f]\\{64\\}\\)$/\\1/p' "$tmp/release")
path=$(sed -n 's|^path=\\(/v1/relays/packages/[0-9A-Za-z.+/-]*\\)$|\\1|p' "$tmp/release")
[ -n "$version" ] && [ -n "$sha" ] && [ -n "$path" ] || fail "the control plane has no relay package for $arch (publish one: edgeboot relays publish edgeboot-relay_<version>_amd64.deb)"
say "downloading edgeboot-relay $version"
curl -fsS "$CLOUD$path" -o "$tmp/edgeboot-relay.deb" || fail "downloading $CLOUD$path failed (curl status $?); the enrollment code was not used"
echo "$sha  $tmp/edgeboot-relay.deb" | sha256sum -c --status || fail "the downloaded package is not the published one (sha256 differs): not installed; the enrollment code was not used"
dpkg -i "$tmp/edgeboot-relay.deb" >"$tmp/dpkg.log" 2>&1 || {
  cat "$tmp/dpkg.log" >&2
  fail "dpkg could not install the package; the enrollment code was not used"
}

# Which LAN the relay serves and how iPXE reaches it: given, or the default route's interface.
if ! grep -q '^public_url' /etc/edgeboot/relay.toml; then
  [ -n "$iface" ] || iface=$(ip -4 route show default | sed -n 's/.* dev \\([^ ]*\\).*/\\1/p' | head -n 1)
  [ -n "$iface" ] || fail "this box has no default route: give --interface IF (the LAN the PXE clients are on)"
  addr=$(ip -4 -o addr show dev "$iface" | sed -n 's/.* inet \\([0-9.]*\\)\\/.*/\\1/p' | head -n 1)
  [ -n "$addr" ] || fail "$iface has no IPv4 address"
  [ -n "$public_url" ] || public_url="http://$addr:8080"
  sed -i "s|^#interface = .*|interface = \\"$iface\\"|; s|^#public_url = .*|public_url = \\"$public_url\\"|" /etc/edgeboot/relay.toml
  say "serving $iface; iPXE reaches this relay at $public_url (/etc/edgeboot/relay.toml)"
fi

if [ -f /var/lib/edgeboot-relay/credentials.json ]; then
  say "already enrolled: keeping its credentials"
else
  set -- --cloud "$CLOUD" --code "$code" --state-dir /var/lib/edgeboot-relay
  [ -z "$name" ] || set -- "$@" --name "$name"
  runuser -u edgeboot-relay -- /usr/bin/edgeboot-relay enroll "$@" || fail "enrollment failed (see above); the package is installed, run this command again once fixed"
fi
systemctl restart edgeboot-relay.service
say "waiting for the relay to serve"
i=0
while [ $i -lt 90 ]; do
  if curl -fsS http://127.0.0.1:8080/healthz 2>/dev/null | grep -q '"ok":true'; then
    say "relay online ($version)"
    exit 0
  fi
  i=$((i + 1))
  sleep 1
done
fail "the relay did not report healthy within 90 s: see journalctl -u edgeboot-relay"
`;

/** The script for a cloud reached at `origin` (checked: it is written into shell code). */
export function installScript(origin: string): string {
  if (!/^https?:\/\/[A-Za-z0-9.:[\]-]+$/.test(origin)) throw new Error(`not a plain origin: ${origin}`);
  return INSTALL_SCRIPT_TEMPLATE.replaceAll('__CLOUD__', origin);
}
