"""A console that translates line endings, made of real pseudo-terminals (termios).

``TranslatingConsole(device_tty)`` opens the device's terminal (the slave side of the
pty whose master the device holds: a fake device in test_protocol.py, QEMU's UART in
test_qemu.py) with the line discipline a default console has: ONLCR (``\\n`` sent
becomes ``\\r\\n``), ICRNL (``\\r`` received becomes ``\\n``) and, with ``seven_bit``,
ISTRIP (the eighth bit of every received byte cleared). It relays everything between
that terminal and a fresh pty pair whose slave (``port``) the host opens, raw, as
serial-verify would: so both directions pass through the kernel's translation, as
they would through ESP-IDF's or pico-sdk's console.
"""

from __future__ import annotations

import os
import pty
import select
import termios
import threading
import tty


class TranslatingConsole(threading.Thread):
    def __init__(self, device_tty: str, seven_bit: bool = False):
        super().__init__(daemon=True)
        self.device = os.open(device_tty, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.device, termios.TCSANOW)  # keeps what the device already sent
        attributes = termios.tcgetattr(self.device)
        attributes[0] |= termios.ICRNL | (termios.ISTRIP if seven_bit else 0)  # iflag: device -> host
        attributes[1] |= termios.OPOST | termios.ONLCR  # oflag: host -> device
        termios.tcsetattr(self.device, termios.TCSANOW, attributes)
        self.host_master, self.host_slave = pty.openpty()
        tty.setraw(self.host_slave)
        self.port = os.ttyname(self.host_slave)
        self.stop_read, self.stop_write = os.pipe()
        self.start()

    def run(self) -> None:
        pairs = {self.device: self.host_master, self.host_master: self.device}
        while True:
            ready, _, _ = select.select([self.device, self.host_master, self.stop_read], [], [])
            if self.stop_read in ready:
                return
            for source in ready:
                try:
                    data = os.read(source, 65536)
                except OSError:
                    return
                if not data:
                    return
                view = memoryview(data)
                while view:
                    view = view[os.write(pairs[source], view):]

    def close(self) -> None:
        os.write(self.stop_write, b"x")
        self.join(timeout=5)
        for fd in (self.device, self.host_master, self.host_slave, self.stop_read, self.stop_write):
            os.close(fd)
