#!/usr/bin/env bash
# `make interop`: fetch mail from ./run with real POP3 clients (fetchmail,
# mpop, getmail6) and check what they got.
#
# Each client gets its own server, on a free loopback port chosen by the
# kernel, serving its own copy of testdata/maildir. With each client:
#   1. fetch alice's mail keeping it on the server, "only new" by UIDL: the
#      fetched messages match the source files and the server still has them;
#   2. fetch again: nothing is fetched;
#   3. deliver one message and fetch: exactly that message is fetched;
#   4. fetch bob's mail (CRLF on disk, a line starting with a dot): it matches;
#   5. fetch all of alice's mail without keep: the server's maildrop is empty.
# Prints PASS or FAIL per client and exits non-zero on any failure. Loopback
# only; every wait is bounded; servers are stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."

# The longest any one client run or server start may take, in seconds.
PATIENCE=60
CLIENTS=(fetchmail mpop getmail)

say() { echo "interop: $*" >&2; }

install_clients() {
  local missing=()
  command -v python3 >/dev/null || missing+=(python3)
  command -v fetchmail >/dev/null || missing+=(fetchmail)
  command -v mpop >/dev/null || missing+=(mpop)
  if ((${#missing[@]})) || ! command -v getmail >/dev/null; then
    if [ "$(id -u)" != 0 ]; then
      say "cannot install ${missing[*]} getmail6 without root"
      exit 1
    fi
    apt-get update -qq
  fi
  if ((${#missing[@]})); then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  if ! command -v getmail >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq getmail6 >/dev/null ||
      python3 -m pip install --quiet getmail6 ||
      python3 -m pip install --quiet --break-system-packages getmail6
  fi
  local client
  for client in python3 "${CLIENTS[@]}"; do
    command -v "$client" >/dev/null || { say "$client is still missing after installing"; exit 1; }
  done
}

work=""
stop_all_servers() {
  if [ -n "$work" ] && [ -f "$work/pids" ]; then
    local pid
    while read -r pid; do
      kill "$pid" 2>/dev/null || true
    done <"$work/pids"
  fi
}
cleanup() {
  stop_all_servers
  [ -z "$work" ] || rm -rf "$work"
}
trap cleanup EXIT

# start_server DIR: serves a copy of testdata/maildir from DIR/mail and sets
# $port to the port the server chose.
start_server() {
  local dir=$1
  cp -r testdata/maildir "$dir/mail"
  : >"$dir/server.log"
  ./run 127.0.0.1 0 -d "$dir/mail" --mgmt-port 0 -u alice:alice bob:bob 2>"$dir/server.log" &
  local pid=$!
  echo "$pid" >>"$work/pids"
  local tries=$((PATIENCE * 10))
  until grep -q "pop3d ready" "$dir/server.log"; do
    tries=$((tries - 1))
    if [ "$tries" = 0 ] || ! kill -0 "$pid" 2>/dev/null; then
      say "the server did not start:"
      cat "$dir/server.log" >&2
      return 1
    fi
    sleep 0.1
  done
  port=$(sed -n 's/.*POP3 listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$dir/server.log" | head -n 1)
  [ -n "$port" ] || { say "no port in the server log"; return 1; }
}

# new_store DIR: an empty Maildir for one fetch.
new_store() {
  mkdir -p "$1/cur" "$1/new" "$1/tmp"
}

# fetch CLIENT USER MODE STORE: one run of CLIENT for USER into the Maildir
# STORE. MODE "keep" keeps the mail on the server and fetches only messages
# whose UIDL it has not seen; MODE "all" fetches everything and deletes it.
fetch() {
  local client=$1 user=$2 mode=$3 store=$4
  local state="$dir/$client-$user"
  mkdir -p "$state"
  chmod 700 "$state"
  local status=0
  # An MDA that writes each message to its own file in the store.
  cat >"$state/mda" <<EOF
#!/bin/sh
exec cat >"\$(mktemp "$store/new/$client.XXXXXX")"
EOF
  chmod 700 "$state/mda"
  case "$client" in
    fetchmail)
      cat >"$state/fetchmailrc" <<EOF
set no bouncemail
set no syslog
set idfile "$state/fetchids"
poll 127.0.0.1 protocol pop3 service $port auth password uidl timeout 20:
  user "$user" there with password "$user" is "$(id -un)" here
  options keep no rewrite sslproto '' mda "$state/mda"
EOF
      chmod 600 "$state/fetchmailrc"
      local flags=()
      [ "$mode" = all ] && flags=(--all --nokeep)
      FETCHMAILHOME="$state" timeout "$PATIENCE" fetchmail --silent -f "$state/fetchmailrc" "${flags[@]}" \
        >>"$state/log" 2>&1 || status=$?
      # fetchmail exits 1 when there was no mail to fetch.
      [ "$status" = 1 ] && status=0
      ;;
    mpop)
      cat >"$state/mpoprc" <<EOF
defaults
tls off
auth user
timeout 20
account $user
host 127.0.0.1
port $port
user $user
password $user
uidls_file $state/uidls
delivery maildir $store
keep on
only_new on
EOF
      chmod 600 "$state/mpoprc"
      local flags=()
      [ "$mode" = all ] && flags=(--keep=off --only-new=off)
      timeout "$PATIENCE" mpop --quiet -C "$state/mpoprc" "${flags[@]}" "$user" >>"$state/log" 2>&1 || status=$?
      ;;
    getmail)
      cat >"$state/getmailrc" <<EOF
[retriever]
type = SimplePOP3Retriever
server = 127.0.0.1
port = $port
username = $user
password = $user
timeout = 20

[destination]
# getmail's Maildir destination refuses to run as root; an MDA may.
type = MDA_external
path = $state/mda
allow_root_commands = true

[options]
read_all = false
delete = false
verbose = 0
EOF
      local flags=()
      [ "$mode" = all ] && flags=(--all --delete)
      timeout "$PATIENCE" getmail --getmaildir "$state" --rcfile "$state/getmailrc" "${flags[@]}" \
        >>"$state/log" 2>&1 || status=$?
      ;;
  esac
  if [ "$status" != 0 ]; then
    say "$client ($user, $mode) failed with status $status:"
    cat "$state/log" >&2
    return 1
  fi
}

# same_messages STORE SOURCE...: the messages in the Maildir STORE are the
# SOURCE files, one each. Clients may add header lines (Received:,
# Delivered-To:, ...) but must keep every source header line and the body
# exactly; line ends are compared as LF.
same_messages() {
  python3 - "$@" <<'EOF'
import pathlib, sys

def parts(data):
    data = data.replace(b"\r\n", b"\n")
    if not data.endswith(b"\n"):
        data += b"\n"
    head, _, body = data.partition(b"\n\n")
    return set(head.split(b"\n")), body

store, sources = pathlib.Path(sys.argv[1]), sys.argv[2:]
got = [parts(p.read_bytes()) for p in sorted(store.rglob("*")) if p.is_file()]
if len(got) != len(sources):
    sys.exit(f"{len(got)} messages fetched into {store}, expected {len(sources)}")
for source in sources:
    head, body = parts(pathlib.Path(source).read_bytes())
    match = next((i for i, (h, b) in enumerate(got) if b == body and head <= h), None)
    if match is None:
        sys.exit(f"no fetched message matches {source}")
    got.pop(match)
EOF
}

# messages_on_server USER: how many messages USER's Maildir holds.
messages_on_server() {
  find "$dir/mail/$1/cur" "$dir/mail/$1/new" -type f ! -name '.*' | wc -l
}

expect_on_server() {
  local user=$1 expected=$2 actual
  actual=$(messages_on_server "$user")
  [ "$actual" = "$expected" ] || { say "$user has $actual messages on the server, expected $expected"; return 1; }
}

# check_client CLIENT: the five steps above, with a fresh server.
check_client() {
  local client=$1
  dir="$work/$client"
  mkdir -p "$dir"
  start_server "$dir"
  local alice=(testdata/maildir/alice/new/[0-9]*) bob=(testdata/maildir/bob/new/[0-9]*)

  new_store "$dir/fetch1"
  fetch "$client" alice keep "$dir/fetch1"
  same_messages "$dir/fetch1" "${alice[@]}"
  expect_on_server alice "${#alice[@]}"

  new_store "$dir/fetch2"
  fetch "$client" alice keep "$dir/fetch2"
  same_messages "$dir/fetch2"
  expect_on_server alice "${#alice[@]}"

  local delivered="$dir/delivered"
  printf 'From: Dave <dave@example.org>\nTo: Alice <alice@example.org>\nSubject: New mail for %s\n\nOne new message.\n.\nEnd.\n' \
    "$client" >"$delivered"
  cp "$delivered" "$dir/mail/alice/new/1800000000.M1P1.interop"
  new_store "$dir/fetch3"
  fetch "$client" alice keep "$dir/fetch3"
  same_messages "$dir/fetch3" "$delivered"
  expect_on_server alice $((${#alice[@]} + 1))

  new_store "$dir/fetch4"
  fetch "$client" bob keep "$dir/fetch4"
  same_messages "$dir/fetch4" "${bob[@]}"
  expect_on_server bob "${#bob[@]}"

  new_store "$dir/fetch5"
  fetch "$client" alice all "$dir/fetch5"
  same_messages "$dir/fetch5" "${alice[@]}" "$delivered"
  expect_on_server alice 0
}

install_clients
[ -x ./run ] || make all
work=$(mktemp -d "${TMPDIR:-/tmp}/pop3d-interop.XXXXXX")
failed=0
for client in "${CLIENTS[@]}"; do
  # A subshell per client, so that one failure stops only that client.
  set +e
  (
    set -e
    check_client "$client"
  )
  status=$?
  set -e
  stop_all_servers
  if [ "$status" = 0 ]; then
    echo "PASS $client"
  else
    echo "FAIL $client"
    failed=1
  fi
done
exit "$failed"
