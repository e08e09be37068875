#!/bin/sh
# An external trainer that never finishes: it and a grandchild ignore SIGTERM. Writes the pids
# of itself, its child and its grandchild to "$1.leader", "$1.child", "$1.grandchild".
trap '' TERM
echo $$ > "$1.leader.tmp" && mv "$1.leader.tmp" "$1.leader"
/bin/sh -c 'trap "" TERM; sleep 600 & echo $! > "$1.tmp"; mv "$1.tmp" "$1"; wait' sh "$1.grandchild" &
echo $! > "$1.child.tmp" && mv "$1.child.tmp" "$1.child"
echo "hang: waiting forever" >&2
while :; do sleep 1; done
