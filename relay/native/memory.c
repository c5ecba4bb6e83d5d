/*
 * edgeboot-memory.node: hands memory that glibc's malloc holds free back to the kernel.
 *
 * Why it exists. A storm of new MACs (thousands of DISCOVERs a second) makes the relay allocate
 * through malloc at a high rate: libuv's receive buffers, V8's compiler zones, request bodies. After
 * the storm most of it is free again, but it is free *inside* the heap: glibc returns memory on its
 * own only from the top of the heap (and the relay runs with one arena, MALLOC_ARENA_MAX=1), so a
 * single live chunk above the free ones keeps them all resident. Measured with bench:dhcp's sweep:
 * the arena grew from 14 to 25 MiB with 14 MiB of it free, 60 s after the storm; malloc_trim(0)
 * gave 13 MiB back at once (relay/src/memory-release.ts calls it when the relay goes quiet).
 *
 * Node has no call for malloc_trim, so this Node-API module provides two (ABI-stable across Node
 * versions: the module is built against Debian's libnode-dev headers and loaded by the packaged
 * executable's own Node):
 *   trim()  malloc_trim(0): gives back every free page of the heap; true when something was given back
 *   heap()  { arena, inUse, free }: bytes in malloc's arena, in use and free (mallinfo2)
 */
#define NAPI_VERSION 8
#include <malloc.h>
#include <node_api.h>

static napi_value fail(napi_env env, const char *what) {
  napi_throw_error(env, NULL, what);
  return NULL;
}

static napi_value trim(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  if (napi_get_boolean(env, malloc_trim(0) == 1, &out) != napi_ok) return fail(env, "napi_get_boolean failed");
  return out;
}

static int set_number(napi_env env, napi_value obj, const char *key, size_t value) {
  napi_value v;
  return napi_create_double(env, (double)value, &v) == napi_ok && napi_set_named_property(env, obj, key, v) == napi_ok;
}

static napi_value heap(napi_env env, napi_callback_info info) {
  (void)info;
  struct mallinfo2 m = mallinfo2();
  napi_value out;
  if (napi_create_object(env, &out) != napi_ok) return fail(env, "napi_create_object failed");
  if (!set_number(env, out, "arena", m.arena) || !set_number(env, out, "inUse", m.uordblks) || !set_number(env, out, "free", m.fordblks))
    return fail(env, "cannot set a property");
  return out;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_property_descriptor props[] = {
    {"trim", NULL, trim, NULL, NULL, NULL, napi_default, NULL},
    {"heap", NULL, heap, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}
