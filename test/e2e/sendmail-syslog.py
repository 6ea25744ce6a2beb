"""Receives syslog(3) datagrams on a Unix socket and appends them to a file as syslog lines.

Used by sendmail-harness.sh: Sendmail can log only through syslog(3), and the harness points
/dev/log at this socket inside a private mount namespace. glibc sends
"<PRI>Mmm dd hh:mm:ss tag[pid]: message" without a host name, so the host name given on the
command line is put after the time stamp, as a syslog daemon does.

Usage: sendmail-syslog.py SOCKET LOGFILE HOSTNAME
"""

import os
import re
import socket
import sys

PRIORITY = re.compile(rb"^<\d{1,3}>")
TIMESTAMP_LENGTH = len(b"Mmm dd hh:mm:ss")


def main() -> None:
    socket_path, log_path, hostname = sys.argv[1:4]
    if os.path.exists(socket_path):
        os.unlink(socket_path)

    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(socket_path)
    # Sendmail's delivery processes log after dropping root.
    os.chmod(socket_path, 0o666)

    host = hostname.encode() + b" "
    with open(log_path, "ab", buffering=0) as log:
        while True:
            datagram = PRIORITY.sub(b"", receiver.recv(65536)).rstrip(b"\n")
            stamp, rest = datagram[:TIMESTAMP_LENGTH], datagram[TIMESTAMP_LENGTH + 1 :]
            log.write(stamp + b" " + host + rest + b"\n")


if __name__ == "__main__":
    main()
