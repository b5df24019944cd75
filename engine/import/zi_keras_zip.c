/*  =========================================================================
    zi_keras_zip - the members of a .keras file, a zip, through libzip

    A .keras file (Keras 3, and Keras 2 from 2.13) is a zip holding
    config.json, metadata.json and model.weights.h5. The zip is read from
    memory, as the model file was read, and each member wanted is
    inflated into a buffer of its own.
    =========================================================================
*/

#include "zi_keras.h"
#include <zip.h>

//  A member larger than this is refused before inflating, and so is one
//  larger than deflate could make of its compressed bytes (at most 1032
//  to 1), so that a forged size cannot ask for any memory it likes
#define S_MAX_MEMBER_BYTES  (UINT64_C (2) << 30)
#define S_MAX_INFLATION     1032

void *
zi_keras_zip_member (const void *data, size_t size, const char *member, size_t *length)
{
    *length = 0;
    zip_error_t error;
    zip_error_init (&error);
    zip_source_t *source = zip_source_buffer_create (data, size, 0, &error);
    zip_t *archive = source? zip_open_from_source (source, ZIP_RDONLY | ZIP_CHECKCONS, &error):
                             NULL;
    if (!archive) {
        zi_error ("not a readable zip (%s; %zu bytes, truncated or damaged?)",
                  zip_error_strerror (&error), size);
        zip_source_free (source);
        zip_error_fini (&error);
        return NULL;
    }
    zip_error_fini (&error);
    unsigned char *bytes = NULL;
    zip_stat_t stat;
    zip_stat_init (&stat);
    if (zip_stat (archive, member, 0, &stat) != 0)
        zi_error ("no '%s' in the zip: not a .keras file", member);
    else
    if (!(stat.valid & ZIP_STAT_SIZE) || !(stat.valid & ZIP_STAT_COMP_SIZE)
    ||  stat.size > S_MAX_MEMBER_BYTES || stat.size > stat.comp_size * S_MAX_INFLATION + 1024)
        zi_error ("'%s' in the zip: %llu bytes from %llu compressed is not plausible", member,
                  (unsigned long long) stat.size, (unsigned long long) stat.comp_size);
    else {
        size_t wanted = (size_t) stat.size;
        zip_file_t *file = zip_fopen (archive, member, 0);
        bytes = malloc (wanted + 1);
        assert (bytes);
        zip_int64_t got = file? zip_fread (file, bytes, wanted): -1;
        //  One byte more must not come: the member is as long as it says
        char extra;
        if (got < 0 || (size_t) got != wanted || (file && zip_fread (file, &extra, 1) != 0)) {
            zi_error ("'%s' in the zip cannot be read: %s", member,
                      file? zip_file_strerror (file): zip_strerror (archive));
            free (bytes);
            bytes = NULL;
        }
        else {
            bytes [wanted] = 0;
            *length = wanted;
        }
        if (file)
            zip_fclose (file);
    }
    zip_discard (archive);
    return bytes;
}
