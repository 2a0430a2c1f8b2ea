/*
 * No .livepatch.funcs and no hook section: "Nothing to patch" (C2).
 * It still carries code and data so it is otherwise a normal payload.
 */
unsigned int bad_nothing_to_patch_counter = 1;

unsigned int bad_nothing_to_patch_fn(void)
{
    return ++bad_nothing_to_patch_counter;
}
