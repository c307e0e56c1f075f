#!/bin/sh
# keygate VM tier, OpenRC guests: the harness's command channel, a root shell
# on ttyS2. inittab runs this as a sysinit entry before rcS; it leaves a loop
# behind that keeps a shell on the line (respawned when it exits) and
# returns at once, so the shell is there while keygate holds sysinit.
(
    trap '' HUP
    while :; do
        stty -F /dev/ttyS2 sane 115200 2>/dev/null
        # bash is interactive on a tty: no prompts (they would mix with the
        # command output). setsid -c: the line is its controlling tty, so the
        # harness's Ctrl-C reaches a hung command.
        env -i HOME=/root TERM=dumb PS1= PS2= PS4= \
            PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
            setsid -w -c /bin/bash --noprofile --norc </dev/ttyS2 >/dev/ttyS2 2>&1
        sleep 1
    done
) </dev/null >/dev/null 2>&1 &
exit 0
