#!/usr/bin/env bash
# `make interop`, Thunderbird part: Thunderbird (Debian's `thunderbird`,
# installed with apt-get when missing) fetches mail from ./run, in clear
# text and over POP3S, and the script checks what Thunderbird stored.
#
# Thunderbird runs headless with a throwaway profile and a home of its
# own in a temporary directory; nothing outside it is changed (not the
# install directory either). Its accounts are prefs in the profile's
# user.js: alice and bob on 127.0.0.1, "normal password" authentication.
# It is driven through Marionette (-marionette, with the port the kernel
# chose written to MarionetteActivePort), whose privileged scripts store
# each password with the login manager, press "Get Messages" (the
# incoming server's getNewMessages, as the toolbar button does) and wait
# for the fetch to end, then quit Thunderbird. For POP3S, a throwaway CA
# and a server certificate it signed for 127.0.0.1 are made with openssl,
# and the CA is added to the profile's certificate database with certutil.
#
# Modes: "plain" (no TLS configured), "stls" (RFC 2595 STLS on the POP3
# port, Thunderbird's "STARTTLS") and "pop3s" (implicit TLS, RFC 8314, on
# the --tls-port listener). For each mode, a fresh server serving its own
# copy of testdata/maildir and a fresh profile; each numbered step is one start
# of Thunderbird, so what it remembers (popstate.dat) survives a restart:
#   1. fetch alice's and bob's mail, leaving it on the server: each Inbox
#      (an mbox file) holds exactly the source messages, and the server
#      still has them all;
#   2. fetch alice's again: nothing is downloaded (no RETR or TOP);
#   3. deliver one message and fetch: it is downloaded once;
#   4. fetch with "leave messages on server" off: Thunderbird deletes what
#      it already has, downloads nothing, and alice's maildrop is empty.
# Every fetch must end with success, its connection with QUIT, and no
# reply of the server may be -ERR. In "stls" every session must send
# STLS before it logs in, in "pop3s" every connection must be on the
# POP3S port. Then, with "fetch headers only", Thunderbird must
# store each header as TOP n 0 gives it; and a profile that does not
# trust the CA must fail to fetch without sending a command. The commands
# Thunderbird sent are printed once per mode.
# Prints PASS or FAIL per mode and exits non-zero on any failure.
# Loopback only; every wait is bounded; Thunderbird and the servers are
# stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."

# The longest any one Thunderbird run or server start may take, in seconds.
PATIENCE=90
MODES=(plain stls pop3s)

say() { echo "interop: $*" >&2; }

install_thunderbird() {
  local missing=()
  command -v python3 >/dev/null || missing+=(python3)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v thunderbird >/dev/null || missing+=(thunderbird)
  command -v certutil >/dev/null || missing+=(libnss3-tools)
  ((${#missing[@]})) || return 0
  if [ "$(id -u)" != 0 ]; then
    say "cannot install ${missing[*]} without root"
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  local tool
  for tool in python3 openssl thunderbird certutil; do
    command -v "$tool" >/dev/null || { say "$tool is still missing after installing"; exit 1; }
  done
}

work=""
stop_all() {
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
  stop_all
  [ -z "$work" ] || rm -rf "$work"
}
trap cleanup EXIT

# make_certificates DIR: a test CA (DIR/ca.pem) and a server certificate
# it signed for 127.0.0.1 and localhost (DIR/server.pem, DIR/server.key).
make_certificates() {
  local dir=$1
  mkdir -p "$dir"
  local key=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  {
    openssl req -x509 "${key[@]}" -days 2 -subj "/CN=pop3d interop ca" -keyout "$dir/ca.key" -out "$dir/ca.pem"
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
# with TLS on unless MODE is "plain", logging each command to
# DIR/server.log, and sets $port to the port a client in MODE connects to
# (the POP3S port for "pop3s").
start_server() {
  local dir=$1 mode=$2
  local tls=()
  [ "$mode" = plain ] || tls=(--tls-cert "$certs/server.pem" --tls-key "$certs/server.key" --tls-port 0)
  cp -r testdata/maildir "$dir/mail"
  : >"$dir/server.log"
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

# new_profile PROFILE MODE TRUST: an empty Thunderbird profile; in a TLS
# mode its certificate database trusts the test CA if TRUST is "ca",
# and nothing but Thunderbird's built-in roots if it is "none".
new_profile() {
  local profile=$1 mode=$2 trust=$3
  mkdir -p "$profile"
  if [ "$mode" != plain ]; then
    certutil -N -d "sql:$profile" --empty-password
    [ "$trust" = none ] || certutil -A -d "sql:$profile" -n "pop3d interop ca" -t C,, -i "$certs/ca.pem"
  fi
}

# write_prefs PROFILE MODE KEEP [HEADERS]: the profile's user.js, which
# Thunderbird applies at every start: accounts alice (server1) and bob
# (server2) on 127.0.0.1:$port, "leave messages on server" set to KEEP
# (true/false), "fetch headers only" to HEADERS (default false), and no
# first-run, update, telemetry or other network chatter.
write_prefs() {
  local profile=$1 mode=$2 keep=$3 headers=${4:-false}
  # nsMsgSocketType: 0 plain, 2 alwaysSTARTTLS, 3 SSL.
  local socket=0
  [ "$mode" = stls ] && socket=2
  [ "$mode" = pop3s ] && socket=3
  {
    cat <<EOF
user_pref("marionette.port", 0);
user_pref("mail.accountmanager.accounts", "account1,account2");
user_pref("mail.accountmanager.defaultaccount", "account1");
EOF
    local n user
    for n in 1 2; do
      user=$([ "$n" = 1 ] && echo alice || echo bob)
      cat <<EOF
user_pref("mail.account.account$n.server", "server$n");
user_pref("mail.account.account$n.identities", "id$n");
user_pref("mail.identity.id$n.fullName", "$user");
user_pref("mail.identity.id$n.useremail", "$user@example.org");
user_pref("mail.server.server$n.type", "pop3");
user_pref("mail.server.server$n.name", "$user on pop3d");
user_pref("mail.server.server$n.hostname", "127.0.0.1");
user_pref("mail.server.server$n.port", $port);
user_pref("mail.server.server$n.userName", "$user");
user_pref("mail.server.server$n.socketType", $socket);
user_pref("mail.server.server$n.authMethod", 3);
user_pref("mail.server.server$n.leave_on_server", $keep);
user_pref("mail.server.server$n.delete_mail_left_on_server", true);
user_pref("mail.server.server$n.headers_only", $headers);
user_pref("mail.server.server$n.download_on_biff", true);
user_pref("mail.server.server$n.login_at_startup", false);
user_pref("mail.server.server$n.check_new_mail", false);
EOF
    done
    cat <<'EOF'
user_pref("mailnews.pop3.loglevel", "All");
user_pref("devtools.console.stdout.chrome", true);
user_pref("mail.shell.checkDefaultClient", false);
user_pref("mail.provider.enabled", false);
user_pref("mail.biff.show_alert", false);
user_pref("mail.biff.play_sound", false);
user_pref("mailnews.start_page.enabled", false);
user_pref("mail.rights.override", true);
user_pref("app.update.disabledForTesting", true);
user_pref("app.update.auto", false);
user_pref("extensions.update.enabled", false);
user_pref("extensions.getAddons.cache.enabled", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("datareporting.healthreport.uploadEnabled", false);
user_pref("toolkit.telemetry.enabled", false);
user_pref("toolkit.telemetry.server", "");
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("network.dns.disablePrefetch", true);
user_pref("network.prefetch-next", false);
user_pref("services.settings.server", "data:,#remote-settings-dummy/v1");
user_pref("browser.safebrowsing.update.enabled", false);
user_pref("mailnews.auto_config.fetchFromISP.enabled", false);
user_pref("mail.cloud_files.enabled", false);
user_pref("calendar.timezone.useSystemTimezone", true);
EOF
  } >"$profile/user.js"
}

# thunderbird_fetch PROFILE RUN SERVER...: starts Thunderbird on PROFILE,
# stores each account's password (its user name), gets new messages for
# each incoming SERVER (server1, server2) in turn and quits. Thunderbird's
# output goes to $dir/RUN.tb.log, the fetches' outcomes to $dir/RUN.json.
# Fails if Thunderbird does not start, a fetch does not end or does not
# end with QUIT on the server, or Thunderbird does not quit, within
# $PATIENCE seconds.
thunderbird_fetch() {
  local profile=$1 run=$2
  shift 2
  rm -f "$profile/MarionetteActivePort"
  # A home of its own, so that nothing (crash reports, caches) is left
  # outside the temporary directory.
  mkdir -p "$dir/home"
  # Marionette runs scripts with chrome privileges only when told so.
  HOME="$dir/home" XDG_CACHE_HOME="$dir/home/.cache" XDG_CONFIG_HOME="$dir/home/.config" \
    XDG_DATA_HOME="$dir/home/.local/share" MOZ_CRASHREPORTER_DISABLE=1 \
    thunderbird --headless -marionette -remote-allow-system-access -no-remote -profile "$profile" \
    >"$dir/$run.tb.log" 2>&1 &
  local pid=$!
  echo "$pid" >>"$work/pids"
  local status=0
  timeout "$PATIENCE" python3 - "$profile" "$dir/server.log" "$PATIENCE" "$@" >"$dir/$run.json" <<'EOF' || status=$?
import json, pathlib, re, socket, sys, time

profile, server_log, patience, servers = pathlib.Path(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4:]
deadline = time.monotonic() + patience

def wait_for(what, ready):
    while not ready():
        if time.monotonic() > deadline:
            sys.exit(f"timed out waiting for {what}")
        time.sleep(0.1)

class Marionette:
    """Marionette's wire protocol: length-prefixed JSON, [0, id, name, params] out, [1, id, error, result] back."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=patience)
        self.buf, self.id = b"", 0
        self.read()  # the greeting

    def read(self):
        while b":" not in self.buf:
            self.buf += self.sock.recv(65536) or sys.exit("Marionette closed the connection")
        size, _, rest = self.buf.partition(b":")
        while len(rest) < int(size):
            rest += self.sock.recv(65536) or sys.exit("Marionette closed the connection")
        self.buf = rest[int(size):]
        return json.loads(rest[:int(size)])

    def call(self, name, params):
        self.id += 1
        data = json.dumps([0, self.id, name, params]).encode()
        self.sock.sendall(b"%d:%s" % (len(data), data))
        _, _, error, result = self.read()
        if error:
            sys.exit(f"{name}: {error.get('error')}: {error.get('message')}")
        return result.get("value") if isinstance(result, dict) else result

    def script(self, source, *args):
        return self.call("WebDriver:ExecuteScript", {"script": source, "args": list(args)})

# Each POP3 session the server ended, with how it ended.
def sessions_closed():
    with open(server_log, encoding="utf-8", errors="replace") as log:
        return re.findall(r"\] closed \S+ user=\S+ .* ending=(\S+)", log.read())

port_file = profile / "MarionetteActivePort"
wait_for("Thunderbird's Marionette port", lambda: port_file.exists() and port_file.read_text().strip())
marionette = Marionette(int(port_file.read_text()))
marionette.call("WebDriver:NewSession", {})
marionette.call("Marionette:SetContext", {"value": "chrome"})
marionette.call("WebDriver:SetTimeouts", {"script": int(patience * 1000)})

# The login manager entry Thunderbird looks up for a POP3 server
# (MsgIncomingServer: origin and realm are "mailbox://HOST").
marionette.script("""
  return (async () => {
    for (const server of MailServices.accounts.allServers) {
      if (server.type != "pop3") continue;
      const origin = `${server.localStoreType}://${server.hostname}`;
      const known = await Services.logins.searchLoginsAsync({ origin, httpRealm: origin });
      if (known.some(login => login.username == server.username)) continue;
      const login = Cc["@mozilla.org/login-manager/loginInfo;1"].createInstance(Ci.nsILoginInfo);
      login.init(origin, null, origin, server.username, server.username, "", "");
      await Services.logins.addLoginAsync(login);
    }
  })();
""")

results = {}
for key in servers:
    before = len(sessions_closed())
    result = marionette.script("""
      const server = MailServices.accounts.getIncomingServer(arguments[0]);
      const inbox = server.rootMsgFolder.getFolderWithFlags(Ci.nsMsgFolderFlags.Inbox);
      return new Promise(resolve => server.getNewMessages(inbox, null, {
        OnStartRunningUrl() {},
        OnStopRunningUrl(url, status) {
          resolve({ status, inbox: inbox.filePath.path, messages: inbox.getTotalMessages(false) });
        },
      }));
    """, key)
    # Thunderbird reports the end after QUIT's reply, or after 3 seconds
    # without one; the server's log tells which.
    wait_for(f"the server to close {key}'s session", lambda: len(sessions_closed()) > before)
    result["endings"] = sessions_closed()[before:]
    results[key] = result
json.dump(results, sys.stdout)
marionette.call("Marionette:Quit", {"flags": ["eAttemptQuit"]})
EOF
  # After a failure there is no point waiting for a quit never asked for.
  local tries=$((PATIENCE * 10))
  [ "$status" = 0 ] || tries=0
  while kill -0 "$pid" 2>/dev/null && [ "$tries" -gt 0 ]; do
    tries=$((tries - 1))
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    [ "$status" != 0 ] || say "Thunderbird ($run) did not quit"
    kill "$pid"
    status=1
  else
    # Gone: forgotten, so that stop_all never signals a reused pid.
    sed -i "/^$pid\$/d" "$work/pids"
  fi
  if [ "$status" != 0 ]; then
    say "Thunderbird ($mode, $run) failed:"
    cat "$dir/$run.json" >&2
    grep -v -e Gtk- -e 'WARNING: gtk_' -e '^$' "$dir/$run.tb.log" | tail -n 40 >&2
    return 1
  fi
}

# fetched RUN SERVER: the Inbox mbox file SERVER's fetch in RUN reported,
# after checking that the fetch succeeded and its session ended with QUIT.
fetched() {
  python3 - "$dir/$1.json" "$2" <<'EOF'
import json, sys

results, key = json.load(open(sys.argv[1])), sys.argv[2]
result = results[key]
if result["status"] != 0:
    sys.exit(f"{key}: the fetch ended with status {result['status']:#x}")
if result["endings"] != ["quit"]:
    sys.exit(f"{key}: the fetch's sessions ended {result['endings']}, expected one QUIT")
print(result["inbox"])
EOF
}

# same_mbox [--headers] MBOX SOURCE...: the mbox file MBOX holds the
# SOURCE files, one message each. Thunderbird starts each message with a
# "From -" line, adds its own header lines (X-UIDL:, X-Mozilla-Status:,
# ...), ends it with an empty line, and quotes a body line that starts
# with "From " as ">From "; apart from that, every source header line and
# the body must be there exactly, or with --headers no body at all. Line
# ends are compared as LF.
same_mbox() {
  python3 - "$@" <<'EOF'
import pathlib, re, sys

headers_only = sys.argv[1] == "--headers"
if headers_only:
    sys.argv.pop(1)

def parts(data):
    if not data.endswith(b"\n"):
        data += b"\n"
    head, _, body = data.partition(b"\n\n")
    return set(head.split(b"\n")), body

mbox, sources = pathlib.Path(sys.argv[1]), sys.argv[2:]
data = mbox.read_bytes().replace(b"\r\n", b"\n") if mbox.exists() else b""
got = []
for message in re.split(rb"(?m)^From .*\n", data)[1:]:
    if not message.endswith(b"\n\n"):
        sys.exit(f"{mbox}: a message does not end with an empty line")
    head, body = parts(message[:-1])
    got.append((head, re.sub(rb"(?m)^>(>*From )", rb"\1", body)))
if re.split(rb"(?m)^From .*\n", data)[0]:
    sys.exit(f"{mbox} does not start with a From line")
if len(got) != len(sources):
    sys.exit(f"{len(got)} messages in {mbox}, expected {len(sources)}")
for source in sources:
    head, body = parts(pathlib.Path(source).read_bytes().replace(b"\r\n", b"\n"))
    if headers_only:
        body = b""
    match = next((i for i, (h, b) in enumerate(got) if b == body and head <= h), None)
    if match is None:
        sys.exit(f"no message in {mbox} matches {source}")
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

# commands_since LINE: the verbs of the commands the server logged after
# line LINE of its log, one line per session.
commands_since() {
  tail -n +"$(($1 + 1))" "$dir/server.log" | awk '
    / connection from / { if (line != "") print line; line = "" }
    / command / { for (i = 1; i <= NF; i++) if ($i == "command") { line = line (line == "" ? "" : " ") $(i + 1) } }
    END { if (line != "") print line }'
}

log_lines() { wc -l <"$dir/server.log"; }

# login_verbs: the commands a session of Thunderbird's sends to log in,
# in $mode: after STLS (RFC 2595 §4) it asks for the capabilities again.
login_verbs() {
  if [ "$mode" = stls ]; then echo "CAPA STLS CAPA AUTH"; else echo "CAPA AUTH"; fi
}

# expect_commands SINCE PATTERN WHAT: every session the server logged after
# line SINCE sent exactly the command verbs PATTERN (an extended regex
# over the space-separated verbs); WHAT says what that means.
expect_commands() {
  local since=$1 pattern=$2 what=$3 sessions
  sessions=$(commands_since "$since")
  [ -n "$sessions" ] || { say "no session logged: $what"; return 1; }
  if grep -Evx -- "$pattern" <<<"$sessions" >/dev/null; then
    say "not $what; the sessions sent:"
    echo "$sessions" >&2
    return 1
  fi
}

# no_error_replies: none of the server's replies that Thunderbird logged
# in this mode was -ERR, and every connection was on the port of $mode.
no_error_replies() {
  # The replies are there only if mailnews.pop3.loglevel took effect.
  if ! grep -q '"S: +OK' "$dir"/*.tb.log; then
    say "Thunderbird logged none of the server's replies"
    return 1
  fi
  if grep -h '"S: -ERR' "$dir"/*.tb.log >&2; then
    say "the server answered Thunderbird with -ERR (above)"
    return 1
  fi
  if [ "$mode" = pop3s ] && grep '\] connection from ' "$dir/server.log" | grep -v '(TLS)$' >&2; then
    say "a connection without TLS (above)"
    return 1
  fi
}

# check_thunderbird MODE: the steps above, with a fresh server and profile.
check_thunderbird() {
  mode=$1
  dir="$work/$mode"
  mkdir -p "$dir"
  start_server "$dir" "$mode"
  local profile="$dir/profile" inbox since
  new_profile "$profile" "$mode" ca
  local alice=(testdata/maildir/alice/new/[0-9]*) bob=(testdata/maildir/bob/new/[0-9]*)

  write_prefs "$profile" "$mode" true
  thunderbird_fetch "$profile" run1 server1 server2
  inbox=$(fetched run1 server1)
  same_mbox "$inbox" "${alice[@]}"
  same_mbox "$(fetched run1 server2)" "${bob[@]}"
  expect_commands 0 "$(login_verbs) STAT LIST UIDL RETR( RETR)? QUIT" "a first fetch of each maildrop"
  expect_on_server alice "${#alice[@]}"
  expect_on_server bob "${#bob[@]}"

  since=$(log_lines)
  thunderbird_fetch "$profile" run2 server1
  [ "$(fetched run2 server1)" = "$inbox" ]
  same_mbox "$inbox" "${alice[@]}"
  expect_commands "$since" "$(login_verbs) STAT LIST UIDL QUIT" "a fetch that downloads nothing"
  expect_on_server alice "${#alice[@]}"

  local delivered="$dir/delivered"
  printf 'From: Dave <dave@example.org>\nTo: Alice <alice@example.org>\nSubject: New mail for Thunderbird\n\nOne new message.\n.\nFrom here on, a line mbox quotes.\nEnd.\n' \
    >"$delivered"
  cp "$delivered" "$dir/mail/alice/new/1800000000.M1P1.interop"
  since=$(log_lines)
  thunderbird_fetch "$profile" run3 server1
  same_mbox "$(fetched run3 server1)" "${alice[@]}" "$delivered"
  expect_commands "$since" "$(login_verbs) STAT LIST UIDL RETR QUIT" "a fetch of exactly one message"
  expect_on_server alice $((${#alice[@]} + 1))

  write_prefs "$profile" "$mode" false
  since=$(log_lines)
  thunderbird_fetch "$profile" run4 server1
  same_mbox "$(fetched run4 server1)" "${alice[@]}" "$delivered"
  expect_commands "$since" "$(login_verbs) STAT LIST UIDL DELE DELE DELE QUIT" \
    "a fetch that deletes the three messages it has"
  expect_on_server alice 0
  expect_on_server bob "${#bob[@]}"

  no_error_replies
  say "Thunderbird's commands ($mode), one line per session:"
  commands_since 0 | sed 's/^/interop:   /' >&2
}

# check_headers_only: with "fetch headers only", Thunderbird asks for each
# message's header with TOP n 0 and stores it as a partial message; the
# header must be there exactly and the server keeps the mail.
check_headers_only() {
  mode=plain
  dir="$work/headers"
  mkdir -p "$dir"
  start_server "$dir" "$mode"
  local profile="$dir/profile"
  new_profile "$profile" "$mode" ca
  local alice=(testdata/maildir/alice/new/[0-9]*)
  write_prefs "$profile" "$mode" true true
  thunderbird_fetch "$profile" run1 server1
  same_mbox --headers "$(fetched run1 server1)" "${alice[@]}"
  expect_commands 0 "$(login_verbs) STAT LIST UIDL TOP TOP QUIT" "a fetch of the two messages' headers"
  grep -q '"C: TOP 1 0"' "$dir/run1.tb.log" || { say "Thunderbird did not send TOP 1 0"; return 1; }
  expect_on_server alice "${#alice[@]}"
  no_error_replies
}

# check_untrusted: over POP3S, a profile that does not trust the test CA
# must fail to fetch and send no command at all: no login, no mail.
check_untrusted() {
  mode=pop3s
  dir="$work/untrusted"
  mkdir -p "$dir"
  start_server "$dir" "$mode"
  local profile="$dir/profile"
  new_profile "$profile" "$mode" none
  write_prefs "$profile" "$mode" true
  thunderbird_fetch "$profile" run1 server1
  python3 - "$dir/run1.json" <<'EOF'
import json, sys

result = json.load(open(sys.argv[1]))["server1"]
if result["status"] == 0 or result["messages"] != 0:
    sys.exit(f"Thunderbird fetched from a server whose certificate it should not trust: {result}")
EOF
  grep -q SEC_ERROR_UNKNOWN_ISSUER "$dir/run1.tb.log" || { say "the fetch did not fail on the certificate"; return 1; }
  if grep -q ' command \| logged in' "$dir/server.log"; then
    say "Thunderbird sent commands although the certificate did not verify:"
    cat "$dir/server.log" >&2
    return 1
  fi
  local alice=(testdata/maildir/alice/new/[0-9]*)
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
  stop_all
  if [ "$status" = 0 ]; then
    echo "PASS $name"
  else
    echo "FAIL $name"
    failed=1
  fi
}

install_thunderbird
[ -x ./run ] || make all
work=$(mktemp -d "${TMPDIR:-/tmp}/pop3d-thunderbird.XXXXXX")
certs="$work/certs"
make_certificates "$certs"
failed=0
for mode in "${MODES[@]}"; do
  report "thunderbird ($mode)" check_thunderbird "$mode"
done
report "thunderbird (plain, headers only)" check_headers_only
report "thunderbird (pop3s, untrusted CA refused)" check_untrusted
exit "$failed"
