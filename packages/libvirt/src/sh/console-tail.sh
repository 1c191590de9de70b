#!/bin/sh
# console-tail LOG BYTES: the last BYTES of a VM's serial console log. The first line says which file they
# come from: `current`, `rotated` (virtlogd rolled the log over at its max_size: the new file is root's and
# 0600, so the automation user reads the newest backup, which is still its own), `unreadable` or `absent`.
set -u
if [ -r "$1" ]; then echo current; exec tail -c "$2" "$1"; fi
if [ -e "$1" ]; then
  if [ -r "$1.0" ]; then echo rotated; exec tail -c "$2" "$1.0"; fi
  echo unreadable; exit 0
fi
echo absent

