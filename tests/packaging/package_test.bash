#!/usr/bin/env bash
# The Debian package of tools/package (packaging/README.md), built and installed on this machine.
# Usage: package_test.bash CASE SOURCE_DIR BUILD_DIR
#   build     tools/package on BUILD_DIR makes lintel_<version>_<arch>.deb (version from
#             project(VERSION)) and its -dbgsym .ddeb into BUILD_DIR/package-test: binaries stripped
#             with their debug info in the .ddeb under their build ids, man pages and changelog
#             gzipped, the conffile (accepted by the packaged lintel --check-config), Depends
#             computed from the libraries
#   lintian   lintian finds no error in the .deb (warnings are printed)
#   install   as root with apt-get: `apt-get install ./lintel_*.deb`, then `lintel --check-config`
#             on the installed config as root and as the user lintel, `systemd-analyze verify` on the
#             installed unit, user, directories, conffile, enable link; `apt-get remove` keeps the
#             edited config and the store; `apt-get purge` deletes the store (saying so), keeps and
#             lists a file the installer added to /etc/lintel. Skipped (77) when not root, without
#             apt-get, or when this machine already has a lintel package, /etc/lintel or
#             /var/lib/lintel (the test never touches an installation it did not make). Whatever
#             happens, the package is purged and the users and groups it added deleted at exit.
set -uo pipefail
case_name=$1 src=$2 build=$3
out=$build/package-test
fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }
check() {  # check WHAT COMMAND...: passes when COMMAND succeeds
  local what=$1
  shift
  if "$@" >/dev/null 2>&1; then ok "$what"; else bad "$what"; fi
}
version=$(sed -n 's/^project(lintel VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
arch=$(dpkg --print-architecture)
deb=$out/lintel_${version}_${arch}.deb
ddeb=$out/lintel-dbgsym_${version}_${arch}.ddeb

case $case_name in
  build)
    rm -rf "$out"
    "$src/tools/package" "$build" "$out" || { echo "FAIL tools/package"; exit 1; }
    check "made $(basename "$deb")" test -f "$deb"
    check "made $(basename "$ddeb")" test -f "$ddeb"
    [ $fail -eq 0 ] || exit 1
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    dpkg-deb -x "$deb" "$tmp/deb"
    dpkg-deb -e "$deb" "$tmp/control"
    dpkg-deb -x "$ddeb" "$tmp/ddeb"
    for bin in lintel lintelctl; do
      f=$tmp/deb/usr/bin/$bin
      if [ ! -x "$f" ]; then bad "/usr/bin/$bin in the package"; continue; fi
      if readelf -S "$f" | grep -q '\.debug_\|\.symtab'; then
        bad "/usr/bin/$bin is stripped"
      else
        ok "/usr/bin/$bin is stripped"
      fi
      id=$(readelf -n "$f" | sed -n 's/.*Build ID: \([0-9a-f]*\).*/\1/p')
      dbg=$tmp/ddeb/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug
      if [ -n "$id" ] && readelf -S "$dbg" 2>/dev/null | grep -q '\.debug_line'; then
        ok "$bin's debug info in the .ddeb under build id $id"
      else
        bad "$bin's debug info in the .ddeb under build id '${id}'"
      fi
    done
    for page in man8/lintel.8 man1/lintelctl.1 man5/lintel.yaml.5; do
      check "/usr/share/man/$page.gz (gzip -9n), nothing uncompressed" \
        sh -c "gzip -t '$tmp/deb/usr/share/man/$page.gz' && [ ! -e '$tmp/deb/usr/share/man/$page' ]"
    done
    check "/usr/share/doc/lintel/changelog.gz" gzip -t "$tmp/deb/usr/share/doc/lintel/changelog.gz"
    for f in usr/share/doc/lintel/copyright usr/share/doc/lintel/README.md \
        usr/share/doc/lintel/examples/demo.yaml usr/share/bash-completion/completions/lintelctl \
        usr/lib/systemd/system/lintel.service usr/lib/sysusers.d/lintel.conf \
        usr/lib/tmpfiles.d/lintel.conf etc/lintel/lintel.yaml; do
      check "/$f in the package" test -f "$tmp/deb/$f"
    done
    check "the packaged lintel --check-config accepts the packaged /etc/lintel/lintel.yaml" \
      "$tmp/deb/usr/bin/lintel" --check-config "$tmp/deb/etc/lintel/lintel.yaml"
    check "conffiles lists /etc/lintel/lintel.yaml" grep -qx /etc/lintel/lintel.yaml "$tmp/control/conffiles"
    for s in postinst prerm postrm; do check "maintainer script $s" test -x "$tmp/control/$s"; done
    depends=$(dpkg-deb -f "$deb" Depends)
    echo "     Depends: $depends"
    # Computed by dpkg-shlibdeps: the libraries the binaries link, with versions.
    for lib in libc6 libsqlite3-0 libsodium23 libyaml-cpp0.7 libsimdjson14; do
      check "Depends has $lib (>= ...)" grep -q "$lib (>= " <<<"$depends"
    done
    check "Version is project(VERSION) $version" test "$(dpkg-deb -f "$deb" Version)" = "$version"
    ;;

  lintian)
    if ! command -v lintian >/dev/null; then
      echo "SKIP lintian is not installed (tools/install-deps installs it)"
      exit 77
    fi
    [ -f "$deb" ] || { echo "FAIL no $deb (Package.BuildsTheDebAndItsDbgsym makes it)"; exit 1; }
    report=$(lintian --no-cfg --allow-root "$deb" 2>&1)
    echo "$report"
    errors=$(grep -c '^E: ' <<<"$report")
    if [ "$errors" -gt 0 ]; then bad "lintian: $errors errors"; else ok "lintian: no errors"; fi
    ;;

  install)
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
      echo "SKIP installing a package needs root and apt-get"
      exit 77
    fi
    if dpkg-query -W -f='${Status}' lintel 2>/dev/null | grep -qv 'not-installed'; then
      echo "SKIP this machine has a lintel package ($(dpkg-query -W -f='${Status}' lintel)); not touching it"
      exit 77
    fi
    for d in /etc/lintel /var/lib/lintel; do
      if [ -e "$d" ]; then echo "SKIP $d exists on this machine; not touching it"; exit 77; fi
    done
    [ -f "$deb" ] || { echo "FAIL no $deb (Package.BuildsTheDebAndItsDbgsym makes it)"; exit 1; }
    export DEBIAN_FRONTEND=noninteractive
    apt=(apt-get -o DPkg::Lock::Timeout=120 -o Dpkg::Use-Pty=0 -y -q)
    had=()
    for name in lintel gpio bluetooth; do getent group "$name" >/dev/null && had+=("g:$name"); done
    getent passwd lintel >/dev/null && had+=("u:lintel")
    # shellcheck disable=SC2317  # called by the EXIT trap
    cleanup() {
      if dpkg-query -W -f='${Status}' lintel 2>/dev/null | grep -qv 'not-installed'; then
        "${apt[@]}" purge lintel >/dev/null 2>&1 || dpkg --purge lintel >/dev/null 2>&1
      fi
      rm -rf /etc/lintel /var/lib/lintel
      [[ " ${had[*]} " == *" u:lintel "* ]] || userdel lintel 2>/dev/null
      for name in lintel gpio bluetooth; do
        [[ " ${had[*]} " == *" g:$name "* ]] || groupdel "$name" 2>/dev/null
      done
      true
    }
    trap cleanup EXIT

    log=$(cd "$out" && "${apt[@]}" install "./$(basename "$deb")" 2>&1)
    rc=$?
    echo "$log" | sed 's/^/     apt: /'
    [ $rc -eq 0 ] || { echo "FAIL apt-get install ./$(basename "$deb") exited $rc"; exit 1; }
    check "installed $version" test "$(dpkg-query -W -f='${Status} ${Version}' lintel)" = \
      "install ok installed $version"
    check "postinst says enabled, not started" grep -q "lintel: enabled, not started" <<<"$log"
    check "lintel --check-config /etc/lintel/lintel.yaml" lintel --check-config /etc/lintel/lintel.yaml
    check "lintel --check-config as the user lintel (reads it through /etc/lintel 0750)" \
      runuser -u lintel -- lintel --check-config /etc/lintel/lintel.yaml
    check "lintelctl runs" lintelctl --help
    # Offline (no systemd as PID 1 here): verify loads the unit in a private manager; --man=no
    # skips the Documentation= check. Anything it prints is a finding.
    verify=$(systemd-analyze verify --man=no /lib/systemd/system/lintel.service 2>&1)
    rc=$?
    if [ $rc -eq 0 ] && [ -z "$verify" ]; then
      ok "systemd-analyze verify --man=no /lib/systemd/system/lintel.service: no findings"
    else
      bad "systemd-analyze verify (exit $rc): $verify"
    fi
    # shellcheck disable=SC2016  # expanded by sh -c
    check "user lintel exists, a system user with no shell" \
      sh -c 'getent passwd lintel | grep -q ":/usr/sbin/nologin$" && [ "$(id -u lintel)" -lt 1000 ]'
    # shellcheck disable=SC2016
    check "user lintel is in dialout, gpio and bluetooth" \
      sh -c 'for g in dialout gpio bluetooth; do id -nG lintel | tr " " "\n" | grep -qx $g || exit 1; done'
    check "/etc/lintel is root:lintel 0750" test "$(stat -c '%U:%G %a' /etc/lintel)" = "root:lintel 750"
    check "/var/lib/lintel is lintel:lintel 0700" \
      test "$(stat -c '%U:%G %a' /var/lib/lintel)" = "lintel:lintel 700"
    conffiles=$(dpkg-query -W -f='${Conffiles}' lintel)
    check "dpkg lists /etc/lintel/lintel.yaml as a conffile" grep -q '^ /etc/lintel/lintel.yaml ' <<<"$conffiles"
    check "enabled: multi-user.target.wants/lintel.service" \
      test -L /etc/systemd/system/multi-user.target.wants/lintel.service
    check "man lintel.yaml finds the page" sh -c 'man -w lintel.yaml | grep -q man5/lintel.yaml.5.gz'

    # What an installer leaves: an edited config, a secret beside it, a store.
    echo "# edited by package_test" >>/etc/lintel/lintel.yaml
    install -m 640 -g lintel /dev/null /etc/lintel/panel.password
    runuser -u lintel -- sh -c 'echo store >/var/lib/lintel/lintel.db'

    log=$("${apt[@]}" remove lintel 2>&1) || bad "apt-get remove lintel: $log"
    check "remove: status config-files" test "$(dpkg-query -W -f='${Status}' lintel)" = \
      "deinstall ok config-files"
    check "remove: /usr/bin/lintel gone" test ! -e /usr/bin/lintel
    check "remove: edited /etc/lintel/lintel.yaml kept" grep -q "edited by package_test" /etc/lintel/lintel.yaml
    check "remove: store /var/lib/lintel/lintel.db kept" grep -qx store /var/lib/lintel/lintel.db
    check "remove: unit masked (its kept enable link starts nothing)" \
      test "$(readlink /etc/systemd/system/lintel.service)" = /dev/null

    log=$("${apt[@]}" purge lintel 2>&1) || bad "apt-get purge lintel: $log"
    echo "$log" | grep '^lintel:' | sed 's/^/     purge: /'
    check "purge: says it deletes the store" grep -q "deleting the store /var/lib/lintel" <<<"$log"
    check "purge: /var/lib/lintel gone" test ! -e /var/lib/lintel
    check "purge: /etc/lintel/lintel.yaml gone" test ! -e /etc/lintel/lintel.yaml
    check "purge: keeps and lists the installer's /etc/lintel/panel.password" \
      sh -c "[ -f /etc/lintel/panel.password ] && grep -q '  panel.password' <<'X'
$log
X"
    check "purge: no mask, no enable link left" sh -c '! [ -e /etc/systemd/system/lintel.service ] &&
      ! [ -L /etc/systemd/system/lintel.service ] &&
      ! [ -L /etc/systemd/system/multi-user.target.wants/lintel.service ]'
    check "purge: dpkg forgot lintel" sh -c \
      "! dpkg-query -W -f='\${Status}' lintel 2>/dev/null | grep -qv not-installed"
    ;;
  *)
    echo "unknown case $case_name"
    exit 2
    ;;
esac
exit $fail
