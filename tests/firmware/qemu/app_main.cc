// Entry point for tests/firmware/test_qemu.py: the generated application's setup
// (arena, interpreter, on-boot self-test) once, then exit with its verdict; the
// generated main.cc would go on to serve the serial loop forever.
#include "jsqat_app.h"

int main() { return jsqat_setup() ? 0 : 1; }
