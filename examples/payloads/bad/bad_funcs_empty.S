/* An empty .livepatch.funcs and no other patching section (C2). */
        .section .livepatch.funcs, "aw", @progbits
        .section .note.GNU-stack, "", @progbits
