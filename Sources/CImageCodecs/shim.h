// The system image codecs radb decodes with (Debian packages: Tools/install-deps.sh), plus a few
// small helpers for what Swift cannot do with them directly: libtiff reads through client
// callbacks and reports errors through printf-style (variadic) handlers, giflib reads through
// a callback. Everything here works on caller-owned memory and never prints.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <setjmp.h>
#include <turbojpeg.h>
#include <png.h>
#include <webp/decode.h>
#include <libheif/heif.h>
#include <tiffio.h>
#include <gif_lib.h>
#include <libraw/libraw.h>

// MARK: - In-memory source (libtiff, giflib)

/// Bytes being read by a codec, with the first error message the codec reported.
typedef struct radb_memory_source {
    const unsigned char *data;
    size_t size;
    size_t position;
    char error[512];
} radb_memory_source;

// MARK: - libtiff

static inline tmsize_t radb_tiff_read(thandle_t h, void *buffer, tmsize_t n) {
    radb_memory_source *s = (radb_memory_source *)h;
    if (n <= 0 || s->position >= s->size) return 0;
    size_t left = s->size - s->position;
    size_t count = (size_t)n < left ? (size_t)n : left;
    memcpy(buffer, s->data + s->position, count);
    s->position += count;
    return (tmsize_t)count;
}
static inline tmsize_t radb_tiff_write(thandle_t h, void *buffer, tmsize_t n) { (void)h; (void)buffer; (void)n; return -1; }
static inline toff_t radb_tiff_seek(thandle_t h, toff_t offset, int whence) {
    radb_memory_source *s = (radb_memory_source *)h;
    uint64_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? s->position : s->size;
    if (offset > UINT64_MAX - base) return (toff_t)-1;
    uint64_t target = base + offset;
    if (target > s->size) target = s->size;  // reads past the end then return 0 bytes
    s->position = (size_t)target;
    return (toff_t)target;
}
static inline int radb_tiff_close(thandle_t h) { (void)h; return 0; }
static inline toff_t radb_tiff_size(thandle_t h) { return (toff_t)((radb_memory_source *)h)->size; }
static inline int radb_tiff_map(thandle_t h, void **base, toff_t *size) { (void)h; (void)base; (void)size; return 0; }
static inline void radb_tiff_unmap(thandle_t h, void *base, toff_t size) { (void)h; (void)base; (void)size; }
static inline int radb_tiff_error(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
    (void)tif; (void)module;
    radb_memory_source *s = (radb_memory_source *)user;
    if (s->error[0] == 0) vsnprintf(s->error, sizeof s->error, fmt, ap);
    return 1;  // handled: libtiff prints nothing
}
static inline int radb_tiff_warning(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
    (void)tif; (void)user; (void)module; (void)fmt; (void)ap;
    return 1;  // warnings (unknown tags, …) are not errors and are not printed
}

/// Opens TIFF bytes for reading; errors go to `source->error`, never to stderr. No single
/// allocation inside libtiff may exceed `max_alloc` bytes (a header may declare anything).
static inline TIFF *radb_tiff_open(radb_memory_source *source, tmsize_t max_alloc) {
    TIFFOpenOptions *options = TIFFOpenOptionsAlloc();
    if (!options) return NULL;
    TIFFOpenOptionsSetMaxSingleMemAlloc(options, max_alloc);
    TIFFOpenOptionsSetErrorHandlerExtR(options, radb_tiff_error, source);
    TIFFOpenOptionsSetWarningHandlerExtR(options, radb_tiff_warning, source);
    TIFF *tif = TIFFClientOpenExt("<memory>", "rm", (thandle_t)source, radb_tiff_read, radb_tiff_write,
                                  radb_tiff_seek, radb_tiff_close, radb_tiff_size, radb_tiff_map,
                                  radb_tiff_unmap, options);
    TIFFOpenOptionsFree(options);
    return tif;
}

/// TIFFGetField for one 16-bit tag (TIFFGetField is variadic, which Swift cannot call).
static inline int radb_tiff_get_u16(TIFF *tif, uint32_t tag, uint16_t *value) { return TIFFGetField(tif, tag, value); }

// MARK: - giflib

static inline int radb_gif_read(GifFileType *gif, GifByteType *buffer, int n) {
    radb_memory_source *s = (radb_memory_source *)gif->UserData;
    if (n <= 0 || s->position >= s->size) return 0;
    size_t left = s->size - s->position;
    size_t count = (size_t)n < left ? (size_t)n : left;
    memcpy(buffer, s->data + s->position, count);
    s->position += count;
    return (int)count;
}

/// Opens GIF bytes for reading (DGifOpen with an in-memory reader); NULL and `*error` on failure.
static inline GifFileType *radb_gif_open(radb_memory_source *source, int *error) {
    return DGifOpen(source, radb_gif_read, error);
}
