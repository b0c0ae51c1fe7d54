// The world places blob, made at build time by make_world_places, put into
// the library's read-only data with the assembler's .incbin: a 5 MB array
// initialiser would cost the compiler minutes, and a data file would have
// to be found at run time wherever the binary is installed.
#include "places/world_places_blob.hpp"

#ifndef HERD_WORLD_PLACES_BLOB
#error "HERD_WORLD_PLACES_BLOB names the blob lib/CMakeLists.txt makes"
#endif

// NOLINTNEXTLINE: the one way to include a binary file in C++20
__asm__(".section .rodata.herd_world_places,\"a\",@progbits\n"
        ".balign 16\n"
        ".globl herd_world_places_blob\n"
        ".hidden herd_world_places_blob\n"
        "herd_world_places_blob:\n"
        ".incbin \"" HERD_WORLD_PLACES_BLOB "\"\n"
        ".globl herd_world_places_blob_end\n"
        ".hidden herd_world_places_blob_end\n"
        "herd_world_places_blob_end:\n"
        ".previous\n");
