// allocators/shim/one_malloc_guard.c: a clear link error for two
// configurations linked as malloc.
//
// Depending on //allocators:A and //allocators:B defines malloc, free and the
// rest twice. Every configuration's shim library holds this object before
// malloc_shim.c, so the linker's first complaint is a second definition of
// the symbol below, whose name says the fix, in objects whose paths name the
// two configurations (.../_objs/A_shim/..., .../_objs/B_shim/...). The fix:
// depend on one configuration as //allocators:NAME and on the others as
// //allocators:NAME_config, which registers them by name without a malloc
// (docs/CONFIGURATIONS.md, "Several configurations in one program").
__attribute__((used))
const char xsmem_error_two_configurations_linked_as_malloc__depend_on_one_as_NAME_and_on_the_others_as_NAME_config = 1;
