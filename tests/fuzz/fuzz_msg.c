/*  =========================================================================
    fuzz_msg - libFuzzer harness for the wire header decoder

    A header frame is the first thing a socket hands us from another
    process, so any bytes at all must decode to either a clean error or a
    header that every later step can trust. Beyond not crashing, a header
    that decodes must survive an encode / decode round trip unchanged:
    that is what a relaying actor does with it. The same bytes go to the
    decoder of shared-memory reference frames, which a gateway reads in
    place of a request's data, under the same rules.
    =========================================================================
*/

#include "zi_msg.h"
#include "zi_shm.h"

int
    LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

//  A broken promise of the decoder is a bug the fuzzer must report, so
//  it ends the run the way a sanitizer would
#define s_expect(condition) \
    do { if (!(condition)) { \
        fprintf (stderr, "fuzz_msg: %s:%d: expected %s\n", __FILE__, __LINE__, #condition); \
        abort (); \
    } } while (0)

//  What a decoded header promises to its users
static void
s_check_header (const zi_msg_header_t *header)
{
    s_expect (header->kind >= ZI_MSG_TENSOR && header->kind <= ZI_MSG_ERROR);
    s_expect (header->ndim >= 0 && header->ndim <= ZI_MAX_DIMS);
    s_expect (memchr (header->text, 0, sizeof header->text) != NULL);
    if (header->kind != ZI_MSG_ERROR) {
        s_expect (zi_dtype_size (header->dtype) > 0);
        s_expect (zi_msg_data_size (header) >= 0);
    }
}

//  A reference that decodes names a block in a string that ends, and
//  round-trips
static void
s_check_reference (const uint8_t *data, size_t size)
{
    zi_error ("%s", "");
    zi_shm_ref_t ref, again;
    if (zi_shm_ref_decode (data, size, &ref)) {
        s_expect (*zi_error_text ());
        return;
    }
    s_expect (memchr (ref.name, 0, sizeof ref.name) != NULL);
    unsigned char frame [128];
    size_t length = zi_shm_ref_encode (&ref, frame, sizeof frame);
    s_expect (length > 0 && zi_shm_ref_decode (frame, length, &again) == 0);
    s_expect (strcmp (again.name, ref.name) == 0);
    s_expect (again.offset == ref.offset && again.size == ref.size);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    s_check_reference (data, size);
    zi_error ("%s", "");
    zi_msg_header_t header;
    if (zi_msg_decode (data, size, &header)) {
        s_expect (*zi_error_text ());
        //  A failed decode leaves a zeroed header, which must still be safe
        //  to size
        zi_msg_data_size (&header);
        return 0;
    }
    s_check_header (&header);

    unsigned char buffer [ZI_MSG_HEADER_MAX];
    size_t encoded = zi_msg_encode (&header, buffer, sizeof buffer);
    zi_msg_header_t again;
    s_expect (zi_msg_decode (buffer, encoded, &again) == 0);
    s_check_header (&again);
    s_expect (again.kind == header.kind);
    s_expect (again.request == header.request);
    s_expect (again.source == header.source);
    s_expect (again.slot == header.slot);
    s_expect (again.count == header.count);
    s_expect (again.dtype == header.dtype);
    s_expect (again.ndim == header.ndim);
    s_expect (memcmp (again.dims, header.dims, header.ndim * sizeof (int64_t)) == 0);
    s_expect (again.flags == header.flags);
    s_expect (strcmp (again.text, header.text) == 0);
    return 0;
}
