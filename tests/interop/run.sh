#!/usr/bin/env bash
# `make interop`: fetch mail from ./run with real POP3 clients (fetchmail,
# mpop, getmail6, Claws Mail, a GTK client, under Xvfb, a small Java
# program on Jakarta Mail's POP3 provider, tests/interop/JakartaFetch.java,
# compiled here, and neomutt on a pseudo-terminal) and check what they
# got, in clear text and over TLS.
# Installs the clients with apt-get when they are missing.
#
# Modes: "plain" (no TLS configured), "stls" (RFC 2595 STLS on the POP3
# port) and "pop3s" (implicit TLS, RFC 8314, on the --tls-port listener).
# getmail runs in "plain", the others in all three. The TLS
# modes use a throwaway CA and a server certificate it signed for 127.0.0.1
# and localhost, made with openssl in the temporary directory, and the
# clients verify the certificate against that CA and nothing else. Once
# per TLS client but Claws, a run that trusts a different CA must fail
# without logging in, which proves verification is on (neomutt asks
# whether to accept the certificate and is told to reject it; Claws asks
# in a dialog and waits, which is not checked).
#
# INTEROP_ONLY=claws,mpop runs only those clients; INTEROP_KEEP=1 keeps the
# temporary directory (server logs, client logs and mail) and says where.
#
# Each client and mode gets its own server, on free loopback ports chosen
# by the kernel, serving its own copy of testdata/maildir. With each:
#   1. fetch alice's mail keeping it on the server, "only new" by UIDL: the
#      fetched messages match the source files and the server still has them;
#   2. fetch again: nothing is fetched;
#   3. deliver one message and fetch: exactly that message is fetched;
#   4. fetch bob's mail (CRLF on disk, a line starting with a dot): it matches;
#   5. fetch all of alice's mail without keep: the server's maildrop is empty;
#   6. (TLS modes) the server's log shows that every login happened under
#      TLS: after STLS, or on the POP3S port.
# Prints PASS or FAIL per client and mode and exits non-zero on any failure.
# Loopback only; every wait is bounded; servers are stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."

# The longest any one client run or server start may take, in seconds.
PATIENCE=60
# client:mode pairs, in the order they run.
RUNS=(
  fetchmail:plain mpop:plain getmail:plain claws:plain jakarta:plain neomutt:plain
  fetchmail:stls fetchmail:pop3s mpop:stls mpop:pop3s claws:stls claws:pop3s
  jakarta:stls jakarta:pop3s neomutt:stls neomutt:pop3s
)
# The clients that store each message exactly as it came (but for line
# ends), adding no header.
EXACT_CLIENTS=(claws jakarta neomutt)
# The clients that fetch all the mail on the server each time they keep
# it there, having no record of what they fetched before.
REFETCHING_CLIENTS=(neomutt)
# The clients that speak TLS here, for the wrong-CA check.
TLS_CLIENTS=(fetchmail mpop jakarta neomutt)
# What the clients need, as COMMAND:PACKAGE (or /FILE:PACKAGE). getmail6
# comes apart: from pip where Debian has no package for it.
NEEDS=(
  python3:python3 openssl:openssl fetchmail:fetchmail mpop:mpop
  claws-mail:claws-mail xvfb-run:xvfb xauth:xauth
  javac:default-jdk-headless neomutt:neomutt script:bsdutils
  /usr/share/java/jakarta-mail.jar:libjakarta-mail-java
  /usr/share/java/jakarta-activation.jar:libjakarta-activation-java
)
# Jakarta Mail (its POP3 provider is in jakarta-mail.jar) and the
# activation framework it needs, as Debian installs them.
JAKARTA_JARS=/usr/share/java/jakarta-mail.jar:/usr/share/java/jakarta-activation.jar

say() { echo "interop: $*" >&2; }

# have COMMAND (or /FILE): true if it is there.
have() {
  case "$1" in
    /*) [ -e "$1" ] ;;
    *) command -v "$1" >/dev/null ;;
  esac
}

install_clients() {
  local need missing=()
  for need in "${NEEDS[@]}"; do
    have "${need%%:*}" || missing+=("${need#*:}")
  done
  if ((${#missing[@]})) || ! have getmail; then
    if [ "$(id -u)" != 0 ]; then
      say "cannot install ${missing[*]} getmail6 without root"
      exit 1
    fi
    apt-get update -qq
  fi
  if ((${#missing[@]})); then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if ! have getmail; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq getmail6 >/dev/null ||
      python3 -m pip install --quiet getmail6 ||
      python3 -m pip install --quiet --break-system-packages getmail6
  fi
  for need in "${NEEDS[@]}" getmail:getmail6; do
    have "${need%%:*}" || { say "${need%%:*} is still missing after installing ${need#*:}"; exit 1; }
  done
}

work=""
stop_all_servers() {
  if [ -n "$work" ] && [ -f "$work/pids" ]; then
    local pid
    while read -r pid; do
      kill "$pid" 2>/dev/null || true
    done <"$work/pids"
    # Forgotten once signalled, so a later call never hits a reused pid.
    : >"$work/pids"
  fi
}
cleanup() {
  stop_all_servers
  if [ -n "${INTEROP_KEEP:-}" ] && [ -n "$work" ]; then
    say "logs and mail kept in $work"
  elif [ -n "$work" ]; then
    rm -rf "$work"
  fi
}
trap cleanup EXIT

# make_certificates DIR: a test CA (DIR/ca.pem), a server certificate it
# signed for localhost and 127.0.0.1 (DIR/server.pem, DIR/server.key), and a
# second CA that signed nothing (DIR/wrong-ca.pem).
make_certificates() {
  local dir=$1
  mkdir -p "$dir"
  local key=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  local ca
  {
    for ca in ca wrong-ca; do
      openssl req -x509 "${key[@]}" -days 2 -subj "/CN=pop3d interop $ca" \
        -keyout "$dir/$ca.key" -out "$dir/$ca.pem"
    done
    openssl req -new "${key[@]}" -subj /CN=localhost -keyout "$dir/server.key" -out "$dir/server.csr"
    printf '%s\n' 'basicConstraints=critical,CA:FALSE' 'extendedKeyUsage=serverAuth' \
      'subjectAltName=DNS:localhost,IP:127.0.0.1' >"$dir/server.ext"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
      -days 2 -extfile "$dir/server.ext" -out "$dir/server.pem"
    openssl verify -CAfile "$dir/ca.pem" "$dir/server.pem"
  } >"$dir/openssl.log" 2>&1 || {
    say "openssl could not make the test certificates:"
    cat "$dir/openssl.log" >&2
    return 1
  }
}

# start_server DIR MODE: serves a copy of testdata/maildir from DIR/mail,
# with TLS on unless MODE is "plain", and sets $port to the port a client
# in MODE connects to (the POP3S port for "pop3s").
start_server() {
  local dir=$1 mode=$2
  local tls=()
  [ "$mode" = plain ] || tls=(--tls-cert "$certs/server.pem" --tls-key "$certs/server.key" --tls-port 0)
  cp -r testdata/maildir "$dir/mail"
  : >"$dir/server.log"
  # Debug level logs each command, which the TLS checks read.
  ./run 127.0.0.1 0 -d "$dir/mail" --mgmt-port 0 -l debug "${tls[@]}" -u alice:alice bob:bob \
    2>"$dir/server.log" &
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
  local listener=POP3
  [ "$mode" = pop3s ] && listener=POP3S
  port=$(sed -n "s/.* $listener listening on 127\\.0\\.0\\.1:\\([0-9][0-9]*\\).*/\\1/p" "$dir/server.log" | head -n 1)
  [ -n "$port" ] || { say "no $listener port in the server log"; return 1; }
}

# new_store DIR: an empty Maildir for one fetch.
new_store() {
  mkdir -p "$1/cur" "$1/new" "$1/tmp"
}

# run_client CLIENT USER WHICH STORE: one run of CLIENT for USER into the
# Maildir STORE, in the mode $mode, trusting only the CA file $ca; returns
# the client's exit status, with its output in $state/log. WHICH "keep"
# keeps the mail on the server and fetches only messages whose UIDL it has
# not seen; WHICH "all" fetches everything and deletes it.
run_client() {
  local client=$1 user=$2 which=$3 store=$4
  state="$dir/$client-$user"
  mkdir -p "$state"
  chmod 700 "$state"
  : >"$state/log"
  local status=0
  # An MDA that writes each message to its own file in the store.
  cat >"$state/mda" <<EOF
#!/bin/sh
exec cat >"\$(mktemp "$store/new/$client.XXXXXX")"
EOF
  chmod 700 "$state/mda"
  case "$client" in
    fetchmail)
      # fetchmail 6.4: sslproto without ssl makes STLS required; ssl is
      # implicit TLS. sslcertfile replaces the system's CAs, so only the
      # test CA is trusted. fetchmail checks the certificate's DNS names
      # only, never its IP addresses, so it is told the name to expect.
      local tls="sslproto ''"
      local verify="sslcertck sslcertfile \"$ca\" sslcommonname localhost"
      case "$mode" in
        stls) tls="sslproto tls1.2+ $verify" ;;
        pop3s) tls="ssl sslproto tls1.2+ $verify" ;;
      esac
      cat >"$state/fetchmailrc" <<EOF
set no bouncemail
set no syslog
set idfile "$state/fetchids"
poll 127.0.0.1 protocol pop3 service $port auth password uidl timeout 20:
  user "$user" there with password "$user" is "$(id -un)" here
  options keep no rewrite $tls mda "$state/mda"
EOF
      chmod 600 "$state/fetchmailrc"
      local flags=()
      [ "$which" = all ] && flags=(--all --nokeep)
      env -u FETCHMAIL_INCLUDE_DEFAULT_X509_CA_CERTS FETCHMAILHOME="$state" \
        timeout "$PATIENCE" fetchmail --silent -f "$state/fetchmailrc" "${flags[@]}" \
        >>"$state/log" 2>&1 || status=$?
      # fetchmail exits 1 when there was no mail to fetch.
      [ "$status" = 1 ] && status=0
      ;;
    mpop)
      local tls="tls off"
      case "$mode" in
        stls) tls=$'tls on\ntls_starttls on\ntls_trust_file '"$ca" ;;
        pop3s) tls=$'tls on\ntls_starttls off\ntls_trust_file '"$ca" ;;
      esac
      cat >"$state/mpoprc" <<EOF
defaults
$tls
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
      [ "$which" = all ] && flags=(--keep=off --only-new=off)
      timeout "$PATIENCE" mpop --quiet -C "$state/mpoprc" "${flags[@]}" "$user" >>"$state/log" 2>&1 || status=$?
      ;;
    claws)
      run_claws "$user" "$which" "$store" || status=$?
      ;;
    jakarta)
      timeout "$PATIENCE" java -Djava.net.preferIPv4Stack=true -cp "$java_classes:$JAKARTA_JARS" JakartaFetch \
        "$mode" "$port" "$user" "$user" "$which" "$store" "$state/uids" "$ca" \
        >>"$state/log" 2>&1 || status=$?
      ;;
    neomutt)
      run_neomutt "$user" "$which" "$store" || status=$?
      ;;
    getmail)
      [ "$mode" = plain ] || { say "getmail runs only in clear text here"; return 1; }
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
      [ "$which" = all ] && flags=(--all --delete)
      timeout "$PATIENCE" getmail --getmaildir "$state" --rcfile "$state/getmailrc" "${flags[@]}" \
        >>"$state/log" 2>&1 || status=$?
      ;;
  esac
  return "$status"
}

# sessions_closed: how many POP3 sessions the server has logged as ended.
sessions_closed() {
  grep -c "\] closed " "$dir/server.log" || true
}

# await_session_end BEFORE PID: waits until the server has logged more than
# BEFORE ended sessions, or until PID has exited; fails after $PATIENCE
# seconds. For the GUI clients, which do not exit once they have fetched.
await_session_end() {
  local before=$1 pid=$2 tries=$((PATIENCE * 10))
  until [ "$(sessions_closed)" -gt "$before" ]; do
    kill -0 "$pid" 2>/dev/null || return 0
    tries=$((tries - 1))
    if [ "$tries" = 0 ]; then
      say "no POP3 session ended within $PATIENCE seconds"
      return 1
    fi
    sleep 0.1
  done
}

# run_claws USER WHICH STORE: Claws Mail, the GTK client, under Xvfb, with
# a configuration directory of its own ($state/config) and its MH mailbox
# in $state/Mail. The account is written before each run (Claws rewrites
# accountrc when it exits); the UIDLs it has seen stay in config/uidl.
# `--receive-all` makes it fetch at start; once the server has logged the
# session's end, `--exit` tells the running instance to quit, and the
# messages it stored in its inbox are moved into STORE.
run_claws() {
  local user=$1 which=$2 store=$3
  local cfg="$state/config" mh="$state/Mail"
  local folder
  mkdir -p "$cfg"
  for folder in inbox outbox draft queue trash; do
    mkdir -p "$mh/$folder"
  done
  # ssl_pop: 0 none, 1 implicit TLS, 2 STLS. With ssl_certs_auto_accept a
  # certificate that verifies is taken without a dialog; Claws verifies
  # against the file SSL_CERT_FILE names, the test CA alone.
  local ssl=0
  case "$mode" in
    stls) ssl=2 ;;
    pop3s) ssl=1 ;;
  esac
  # remove_mail with message_leave_time 0 deletes each message once it is
  # stored. Claws would only delete, unfetched, what its UIDL list says it
  # has; forgetting that list makes "all" fetch everything, then delete.
  local remove=0
  if [ "$which" = all ]; then
    remove=1
    rm -rf "$cfg/uidl"
  fi
  cat >"$cfg/accountrc" <<EOF
[Account: 1]
account_name=$user
is_default=1
name=$user
address=$user@example.org
protocol=0
receive_server=127.0.0.1
smtp_server=127.0.0.1
user_id=$user
config_version=4
use_apop_auth=0
use_pop_auth=0
remove_mail=$remove
message_leave_time=0
message_leave_hour=0
enable_size_limit=0
filter_on_receive=0
receive_at_get_all=1
inbox=#mh/Mail/inbox
ssl_pop=$ssl
ssl_certs_auto_accept=1
set_popport=1
pop_port=$port
EOF
  # With no primary passphrase, a stored password that is not in Claws'
  # encrypted form is read as plain text.
  printf '[config_version:4]\n\n[account:1]\nrecv %s\n' "$user" >"$cfg/passwordstorerc"
  [ -e "$cfg/clawsrc" ] || printf '%s\n' '[Common]' config_version=4 check_on_startup=0 \
    autochk_newmail=0 show_startup_dialog=0 confirm_on_exit=0 use_master_passphrase=0 >"$cfg/clawsrc"
  # The mailbox: without one Claws would start its setup wizard.
  [ -e "$cfg/folderlist.xml" ] || cat >"$cfg/folderlist.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<folderlist config_version="4">
  <folder type="mh" name="Mail" path="$mh" collapsed="0" sort="0">
    <folderitem type="inbox" name="inbox" path="inbox" />
    <folderitem type="outbox" name="outbox" path="outbox" />
    <folderitem type="draft" name="draft" path="draft" />
    <folderitem type="queue" name="queue" path="queue" />
    <folderitem type="trash" name="trash" path="trash" />
  </folder>
</folderlist>
EOF
  chmod -R go-rwx "$cfg"
  local before status=0
  before=$(sessions_closed)
  HOME="$state" SSL_CERT_FILE="$ca" timeout "$PATIENCE" \
    xvfb-run -a -e "$state/xvfb.log" claws-mail --alternate-config-dir "$cfg" --receive-all \
    >>"$state/log" 2>&1 &
  local pid=$!
  await_session_end "$before" "$pid" || status=$?
  HOME="$state" timeout "$PATIENCE" claws-mail --alternate-config-dir "$cfg" --exit >>"$state/log" 2>&1 || true
  wait "$pid" || status=$?
  # The MH inbox: one file per message, named by its number.
  find "$mh/inbox" -maxdepth 1 -type f -regex '.*/[0-9]+' -exec mv -t "$store/new" {} +
  return "$status"
}

# run_neomutt USER WHICH STORE: neomutt, the terminal mail reader, on a
# pseudo-terminal that `script` gives it, with a muttrc of its own: its
# <fetch-mail> delivers every message on the server into STORE (its
# spool_file), deleting them if WHICH is "all", then <quit>. It has no
# "only new": with pop_last it asks LAST, which RFC 1939 dropped, and
# fetches everything when the server does not answer it.
run_neomutt() {
  local user=$1 which=$2 store=$3
  local url="pop://127.0.0.1:$port" tls=no
  case "$mode" in
    stls) tls=yes ;;
    pop3s) url="pops://127.0.0.1:$port" tls=yes ;;
  esac
  local delete=no
  [ "$which" = all ] && delete=yes
  # ssl_force_tls makes it refuse a connection without TLS, STLS or not;
  # ssl_ca_certificates_file is then all it trusts. A certificate that does
  # not verify is put to the user.
  cat >"$state/muttrc" <<EOF
set pop_host="$url"
set pop_user="$user"
set pop_pass="$user"
set pop_delete=$delete
set pop_last=yes
set ssl_starttls=$tls
set ssl_force_tls=$tls
set ssl_ca_certificates_file="$ca"
set certificate_file="$state/certificates"
set mbox_type=Maildir
set folder="$state"
set spool_file="$store"
set header_cache=""
set message_cachedir=""
set quit=yes
# It would pause a second after showing the TLS connection's parameters.
set sleep_time=0
EOF
  chmod 600 "$state/muttrc"
  # Its keyboard is a FIFO: the one key it may get is "r", which rejects a
  # certificate that did not verify when it asks whether to accept it.
  local keys="$state/keys"
  rm -f "$keys"
  mkfifo "$keys"
  HOME="$state" TERM=xterm timeout "$PATIENCE" \
    script --quiet --return --command "neomutt -n -F '$state/muttrc' -e 'push <fetch-mail><quit>'" /dev/null \
    <"$keys" >>"$state/log" 2>&1 &
  local pid=$! keyboard asked="" status=0
  exec {keyboard}>"$keys"
  # Bounded: the timeout ends the process.
  while kill -0 "$pid" 2>/dev/null; do
    if [ -z "$asked" ] && grep -q "(r)eject" "$state/log"; then
      printf r >&"$keyboard"
      asked=1
    fi
    sleep 0.1
  done
  wait "$pid" || status=$?
  exec {keyboard}>&-
  if [ -n "$asked" ]; then
    say "neomutt asked whether to accept the server's certificate, and was told to reject it"
    status=1
  fi
  return "$status"
}

# fetch CLIENT USER WHICH STORE: run_client, failing loudly on an error.
fetch() {
  local client=$1 user=$2 which=$3 store=$4 status=0
  run_client "$@" || status=$?
  if [ "$status" != 0 ]; then
    say "$client ($mode, $user, $which) failed with status $status:"
    cat "$state/log" >&2
    return 1
  fi
}

# same_messages STORE SOURCE...: the messages in the Maildir STORE are the
# SOURCE files, one each. Clients may add header lines (Received:,
# Delivered-To:, ...) but must keep every source header line and the body
# exactly; line ends are compared as LF. For a client in EXACT_CLIENTS,
# which stores a message as it came, each message must be its source
# exactly, but for line ends.
same_messages() {
  local exact=""
  [[ " ${EXACT_CLIENTS[*]} " == *" $client "* ]] && exact=1
  EXACT="$exact" python3 - "$@" <<'EOF'
import os, pathlib, sys

exact = bool(os.environ["EXACT"])

def parts(data):
    data = data.replace(b"\r\n", b"\n")
    if not data.endswith(b"\n"):
        data += b"\n"
    head, _, body = data.partition(b"\n\n")
    # In exact mode the header's lines keep their order.
    return (head if exact else set(head.split(b"\n"))), body

def matches(source_head, head):
    return source_head == head if exact else source_head <= head

store, sources = pathlib.Path(sys.argv[1]), sys.argv[2:]
got = [parts(p.read_bytes()) for p in sorted(store.rglob("*")) if p.is_file()]
if len(got) != len(sources):
    sys.exit(f"{len(got)} messages fetched into {store}, expected {len(sources)}")
for source in sources:
    head, body = parts(pathlib.Path(source).read_bytes())
    match = next((i for i, (h, b) in enumerate(got) if b == body and matches(head, h)), None)
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

# logged_in_under_tls LOG MODE: in the server log LOG, every command that
# carries a password (USER, PASS, AUTH, APOP) came after STLS ("stls") or
# on a connection to the POP3S port ("pop3s"), and some login succeeded.
# The clients connect one at a time, so a connection's lines are not
# mixed with another's.
logged_in_under_tls() {
  python3 - "$@" <<'EOF'
import re, sys

log, mode = sys.argv[1], sys.argv[2]
tls, connections, logins, stls = False, 0, 0, 0
for number, line in enumerate(open(log, encoding="utf-8", errors="replace"), 1):
    if re.search(r"\bconnection from \S+", line):
        connections += 1
        tls = line.rstrip().endswith("(TLS)")
        if mode == "pop3s" and not tls:
            sys.exit(f"{log}:{number}: a connection without TLS: {line.strip()}")
    elif re.search(r"\bcommand STLS\b", line):
        stls += 1
        tls = True
    elif re.search(r"\bcommand (USER|PASS|AUTH|APOP)\b", line) and not tls:
        sys.exit(f"{log}:{number}: a login command in clear text: {line.strip()}")
    elif re.search(r"\blogged in\b", line):
        logins += 1
if logins == 0:
    sys.exit(f"{log}: no login at all")
if mode == "stls" and stls < logins:
    sys.exit(f"{log}: {logins} logins but only {stls} STLS commands")
EOF
}

# check_client CLIENT MODE: the steps above, with a fresh server.
check_client() {
  local client=$1
  mode=$2
  dir="$work/$client-$mode"
  mkdir -p "$dir"
  start_server "$dir" "$mode"
  ca="$certs/ca.pem"
  local alice=(testdata/maildir/alice/new/[0-9]*) bob=(testdata/maildir/bob/new/[0-9]*)

  new_store "$dir/fetch1"
  fetch "$client" alice keep "$dir/fetch1"
  same_messages "$dir/fetch1" "${alice[@]}"
  expect_on_server alice "${#alice[@]}"

  # What a fetch that keeps mail gets of the mail it has already fetched:
  # nothing, but for a client that cannot tell old mail from new.
  local again=()
  [[ " ${REFETCHING_CLIENTS[*]} " == *" $client "* ]] && again=("${alice[@]}")

  new_store "$dir/fetch2"
  fetch "$client" alice keep "$dir/fetch2"
  same_messages "$dir/fetch2" "${again[@]}"
  expect_on_server alice "${#alice[@]}"

  local delivered="$dir/delivered"
  printf 'From: Dave <dave@example.org>\nTo: Alice <alice@example.org>\nSubject: New mail for %s\n\nOne new message.\n.\nEnd.\n' \
    "$client" >"$delivered"
  cp "$delivered" "$dir/mail/alice/new/1800000000.M1P1.interop"
  new_store "$dir/fetch3"
  fetch "$client" alice keep "$dir/fetch3"
  same_messages "$dir/fetch3" "${again[@]}" "$delivered"
  expect_on_server alice $((${#alice[@]} + 1))

  new_store "$dir/fetch4"
  fetch "$client" bob keep "$dir/fetch4"
  same_messages "$dir/fetch4" "${bob[@]}"
  expect_on_server bob "${#bob[@]}"

  new_store "$dir/fetch5"
  fetch "$client" alice all "$dir/fetch5"
  same_messages "$dir/fetch5" "${alice[@]}" "$delivered"
  expect_on_server alice 0

  [ "$mode" = plain ] || logged_in_under_tls "$dir/server.log" "$mode"
}

# check_wrong_ca CLIENT: over STLS, a client that trusts only a CA that did
# not sign the server's certificate must fail, and must not have logged in
# or fetched anything (no fallback to clear text).
check_wrong_ca() {
  local client=$1
  mode=stls
  dir="$work/$client-wrong-ca"
  mkdir -p "$dir"
  start_server "$dir" "$mode"
  ca="$certs/wrong-ca.pem"
  new_store "$dir/fetch"
  local status=0
  run_client "$client" alice keep "$dir/fetch" || status=$?
  if [ "$status" = 0 ]; then
    say "$client trusted a certificate signed by a CA it was not given:"
    cat "$state/log" >&2
    return 1
  fi
  if grep -Eq "command (USER|PASS|AUTH|APOP)\b|logged in" "$dir/server.log"; then
    say "$client tried to log in although the certificate did not verify:"
    cat "$dir/server.log" >&2
    return 1
  fi
  local alice=(testdata/maildir/alice/new/[0-9]*)
  same_messages "$dir/fetch"
  expect_on_server alice "${#alice[@]}"
}

# report NAME COMMAND...: runs COMMAND in a subshell, so that one failure
# stops only that check, and prints PASS or FAIL NAME.
report() {
  local name=$1 status
  shift
  set +e
  (
    set -e
    "$@"
  )
  status=$?
  set -e
  stop_all_servers
  if [ "$status" = 0 ]; then
    echo "PASS $name"
  else
    echo "FAIL $name"
    failed=1
  fi
}

install_clients
[ -x ./run ] || make all
work=$(mktemp -d "${TMPDIR:-/tmp}/pop3d-interop.XXXXXX")
certs="$work/certs"
make_certificates "$certs"
# The Jakarta Mail client is compiled here, never kept as a binary.
java_classes="$work/java"
javac -d "$java_classes" -cp "$JAKARTA_JARS" tests/interop/JakartaFetch.java
failed=0
# chosen CLIENT: true unless INTEROP_ONLY (clients, comma-separated) leaves
# CLIENT out.
chosen() {
  [ -z "${INTEROP_ONLY:-}" ] || [[ ",$INTEROP_ONLY," == *",$1,"* ]]
}
for run in "${RUNS[@]}"; do
  chosen "${run%%:*}" || continue
  report "${run%%:*} (${run#*:})" check_client "${run%%:*}" "${run#*:}"
done
for client in "${TLS_CLIENTS[@]}"; do
  chosen "$client" || continue
  report "$client (stls, wrong CA refused)" check_wrong_ca "$client"
done
exit "$failed"
