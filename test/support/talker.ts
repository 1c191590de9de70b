/**
 * A guest that says something on its serial console: a 512-byte boot sector (x86 real mode, hand-assembled
 * below) that writes a message to COM1 and halts. Tiny and quick to boot under software emulation (SeaBIOS
 * boots it from the VM's virtio disk in about a second), so tests can put real guest output (escape
 * sequences included) in a VM's console log, and get a guest that ignores the ACPI shutdown request (a stop
 * then waits its whole timeout and powers it off).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The boot sector's code; the message follows it at CODE.length, NUL-terminated. */
const CODE = [
  0xfa, //              cli
  0x31,
  0xc0, //        xor ax, ax
  0x8e,
  0xd8, //        mov ds, ax          (BIOSes differ on DS at boot)
  0xfc, //              cld
  0xba,
  0xf8,
  0x03, //  mov dx, 0x3f8       (COM1's data port; QEMU's UART needs no setup to send)
  0xbe,
  0x17,
  0x7c, //  mov si, 0x7c17      (0x7c00 + CODE.length: the message)
  0xac, //              .next: lodsb
  0x84,
  0xc0, //        test al, al
  0x74,
  0x03, //        jz .halt
  0xee, //              out dx, al
  0xeb,
  0xf8, //        jmp .next
  0xf4, //              .halt: hlt          (interrupts off: stays halted, ignores ACPI)
  0xeb,
  0xfd, //        jmp .halt
];

/** The boot sector that writes `message` (UTF-8, at most 486 bytes, no NUL) to COM1. */
export function bootSector(message: string): Buffer {
  const msg = Buffer.from(message, 'utf8');
  if (CODE.length !== 0x17) throw new Error('the message address in CODE is wrong');
  if (msg.includes(0) || CODE.length + msg.length + 1 > 510) throw new Error('message too long or holds NUL');
  const sector = Buffer.alloc(512);
  Buffer.from(CODE).copy(sector, 0);
  msg.copy(sector, CODE.length);
  sector[510] = 0x55;
  sector[511] = 0xaa;
  return sector;
}

/** Writes `dir/name`: a qcow2 image of `sizeMiB` whose first sector is `bootSector(message)`. */
export function makeTalkerImage(dir: string, name: string, message: string, sizeMiB = 16): string {
  const tmp = mkdtempSync(join(tmpdir(), 'prov-talker-'));
  try {
    const raw = join(tmp, 'disk.raw');
    const disk = Buffer.alloc(sizeMiB * 1024 * 1024);
    bootSector(message).copy(disk, 0);
    writeFileSync(raw, disk);
    const out = join(dir, name);
    execFileSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, out]);
    return out;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
