/* The DBC decoder's compiled kernels (protocols/dbc/kernels.py).
 *
 * group_standard: a batch of classic frames grouped by message (a counting sort) with the
 * known frames' payload words and times gathered, in two passes over the records.
 *
 * decode_rows: the block decode of block_runner.LeanTable in one pass: for each row (a
 * signal of a message) and each frame of its message, the payload word shifted left, shifted right
 * (logically or arithmetically), masked, converted to double, multiplied and added to, in
 * numpy's order of operations, so that each value is the numpy passes' bit for bit.
 *
 * Built with -ffp-contract=off: a fused multiply-add (GCC's default on aarch64) would round
 * once where cantools and numpy round twice.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* One row's parameters: block_runner.KERNEL_ROW, field for field. */
typedef struct {
    int64_t slot;
    int64_t word;       /* the word of each frame's payload the row reads */
    int64_t big;        /* 1: from the byte-swapped copy */
    int64_t left;
    int64_t right;
    int64_t arithmetic; /* 1: shift right arithmetically (sign-extends) */
    int64_t mask;       /* -1: none */
    double scale;       /* 1.0: none */
    double offset;
    int64_t add;        /* 1: add the offset */
} Row;

#define LOOP(SHIFTED, FINISH)                                        \
    for (Py_ssize_t j = 0; j < n; j++) {                             \
        uint64_t x = src[j * columns] << left;                       \
        int64_t v = (SHIFTED) & mask;                                \
        double d = (double)v * scale;                                \
        dst[j] = FINISH;                                             \
    }

static void
decode_row(const uint64_t *src, Py_ssize_t columns, Py_ssize_t n, double *dst, const Row *row)
{
    const unsigned left = (unsigned)row->left;
    const unsigned right = (unsigned)row->right;
    const int64_t mask = row->mask;
    const double scale = row->scale;
    const double offset = row->offset;
    if (row->arithmetic) {
        if (row->add) {
            LOOP((int64_t)x >> right, d + offset)
        } else {
            LOOP((int64_t)x >> right, d)
        }
    } else if (row->add) {
        LOOP((int64_t)(x >> right), d + offset)
    } else {
        LOOP((int64_t)(x >> right), d)
    }
}

static int
list_item(PyObject *list, Py_ssize_t i, Py_ssize_t *out)
{
    Py_ssize_t value = PyLong_AsSsize_t(PyList_GET_ITEM(list, i));
    if (value == -1 && PyErr_Occurred()) {
        return -1;
    }
    *out = value;
    return 0;
}

PyDoc_STRVAR(decode_rows_doc,
"decode_rows(rows, source, first_frames, sizes, out, width, columns, swapped_at)\n\n"
"Decode each row of ``rows`` (records of ``KERNEL_ROW``) into ``out`` (float64[rows, width],\n"
"C order): frame j of the row's slot s reads word ``source[(first_frames[s] + j) * columns\n"
"+ word + big * swapped_at]`` (native uint64), for j below ``sizes[s]``; the rest of the row\n"
"is left as it was. Raises ValueError on a read outside ``source`` or a bad parameter.");

static PyObject *
decode_rows(PyObject *self, PyObject *args)
{
    Py_buffer rows_buf, source_buf, out_buf;
    PyObject *first_frames, *sizes;
    Py_ssize_t width, columns, swapped_at;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "y*y*O!O!w*nnn", &rows_buf, &source_buf, &PyList_Type,
                          &first_frames, &PyList_Type, &sizes, &out_buf, &width, &columns,
                          &swapped_at)) {
        return NULL;
    }
    Py_ssize_t nrows = rows_buf.len / (Py_ssize_t)sizeof(Row);
    Py_ssize_t words = source_buf.len / (Py_ssize_t)sizeof(uint64_t);
    Py_ssize_t slots = PyList_GET_SIZE(sizes);
    if (rows_buf.len % (Py_ssize_t)sizeof(Row) != 0) {
        PyErr_SetString(PyExc_ValueError, "rows is not a whole number of row records");
        goto done;
    }
    if (width < 0 || columns < 1 || swapped_at < 0 || PyList_GET_SIZE(first_frames) != slots) {
        PyErr_SetString(PyExc_ValueError, "bad width, columns, swapped_at or first_frames");
        goto done;
    }
    if (out_buf.len < nrows * width * (Py_ssize_t)sizeof(double)) {
        PyErr_SetString(PyExc_ValueError, "out is smaller than rows x width values");
        goto done;
    }
    const Row *row = (const Row *)rows_buf.buf;
    const uint64_t *source = (const uint64_t *)source_buf.buf;
    double *out = (double *)out_buf.buf;
    for (Py_ssize_t r = 0; r < nrows; r++, row++) {
        Py_ssize_t slot = (Py_ssize_t)row->slot, first, n;
        if (slot < 0 || slot >= slots || row->left < 0 || row->left > 63 || row->right < 0 ||
            row->right > 63 || row->word < 0 || row->word >= columns) {
            PyErr_Format(PyExc_ValueError, "row %zd: bad slot, word or shift", r);
            goto done;
        }
        if (list_item(sizes, slot, &n) < 0 || list_item(first_frames, slot, &first) < 0) {
            goto done;
        }
        if (n < 0 || n > width || first < 0) {
            PyErr_Format(PyExc_ValueError, "row %zd: %zd frames from %zd in a block %zd wide",
                         r, n, first, width);
            goto done;
        }
        if (n == 0) {
            continue;
        }
        Py_ssize_t base = first * columns + (Py_ssize_t)row->word + (row->big ? swapped_at : 0);
        if (base + (n - 1) * columns >= words) {
            PyErr_Format(PyExc_ValueError, "row %zd reads past the source's %zd words", r, words);
            goto done;
        }
        decode_row(source + base, columns, n, out + r * width, row);
    }
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&rows_buf);
    PyBuffer_Release(&source_buf);
    PyBuffer_Release(&out_buf);
    return result;
}

PyDoc_STRVAR(group_standard_doc,
"group_standard(batch, itemsize, data_offset, columns, row_of_id, pairs, pairs_itemsize,\n"
"               not_standard, buckets, order, words, times)\n\n"
"Group a batch of frame records (``itemsize`` bytes each: float64 time at 0, uint32 id at 8,\n"
"flags at 12, length at 13, payload from ``data_offset``) by bucket: ``pairs[row_of_id[id]\n"
"| length]`` (indices past either table read its last entry), as ``IdTables.standard_buckets``.\n"
"Writes each frame's record number into ``order`` (intp), grouped by bucket, in input order\n"
"within one; and of the frames of buckets 1 to ``buckets`` - 3 (the known ones), in that\n"
"order, the first ``columns`` payload words (little-endian) into ``words`` (native uint64)\n"
"and the time into ``times``. Returns the count of each bucket, or None (nothing written)\n"
"when a frame's flags have a bit of ``not_standard``. Raises ValueError when a buffer is\n"
"too small or a bucket is not below ``buckets``.");

static PyObject *
group_standard(PyObject *self, PyObject *args)
{
    Py_buffer batch_buf, row_buf, pairs_buf, order_buf, words_buf, times_buf;
    Py_ssize_t itemsize, data_offset, columns, pairs_itemsize, not_standard, nbuckets;
    PyObject *result = NULL;
    uint16_t *frame_bucket = NULL;
    Py_ssize_t *next = NULL;
    if (!PyArg_ParseTuple(args, "y*nnny*y*nnnw*w*w*", &batch_buf, &itemsize, &data_offset,
                          &columns, &row_buf, &pairs_buf, &pairs_itemsize, &not_standard,
                          &nbuckets, &order_buf, &words_buf, &times_buf)) {
        return NULL;
    }
    if (itemsize < 14 || columns < 1 || data_offset < 14 ||
        data_offset + 8 * columns > itemsize || batch_buf.len % itemsize != 0 ||
        (pairs_itemsize != 1 && pairs_itemsize != 2) || nbuckets < 3 || nbuckets > 65535 ||
        row_buf.len < (Py_ssize_t)sizeof(Py_ssize_t) || pairs_buf.len < pairs_itemsize) {
        PyErr_SetString(PyExc_ValueError, "bad record layout, tables or bucket count");
        goto done;
    }
    Py_ssize_t n = batch_buf.len / itemsize;
    if (order_buf.len < n * (Py_ssize_t)sizeof(Py_ssize_t) ||
        words_buf.len < n * columns * (Py_ssize_t)sizeof(uint64_t) ||
        times_buf.len < n * (Py_ssize_t)sizeof(double)) {
        PyErr_SetString(PyExc_ValueError, "order, words or times is smaller than the batch");
        goto done;
    }
    const unsigned char *records = (const unsigned char *)batch_buf.buf;
    const Py_ssize_t *row_of_id = (const Py_ssize_t *)row_buf.buf;
    Py_ssize_t last_id = row_buf.len / (Py_ssize_t)sizeof(Py_ssize_t) - 1;
    Py_ssize_t last_pair = pairs_buf.len / pairs_itemsize - 1;
    frame_bucket = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(uint16_t));
    next = PyMem_Calloc((size_t)nbuckets, sizeof(Py_ssize_t));
    if (frame_bucket == NULL || next == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        const unsigned char *record = records + i * itemsize;
        if (record[12] & (unsigned)not_standard) {
            result = Py_NewRef(Py_None);
            goto done;
        }
        uint32_t id;
        memcpy(&id, record + 8, sizeof id);
        Py_ssize_t row = row_of_id[(Py_ssize_t)id > last_id ? last_id : (Py_ssize_t)id];
        Py_ssize_t pair = row | record[13];
        if (pair < 0 || pair > last_pair) {
            pair = last_pair;
        }
        Py_ssize_t bucket = pairs_itemsize == 1 ? ((const uint8_t *)pairs_buf.buf)[pair]
                                                : ((const int16_t *)pairs_buf.buf)[pair];
        if (bucket < 0 || bucket >= nbuckets) {
            PyErr_Format(PyExc_ValueError, "frame %zd: bucket %zd of %zd", i, bucket, nbuckets);
            goto done;
        }
        frame_bucket[i] = (uint16_t)bucket;
        next[bucket]++;
    }
    result = PyList_New(nbuckets);
    if (result == NULL) {
        goto done;
    }
    Py_ssize_t start = 0;
    for (Py_ssize_t b = 0; b < nbuckets; b++) {
        PyObject *count = PyLong_FromSsize_t(next[b]);
        if (count == NULL) {
            Py_CLEAR(result);
            goto done;
        }
        PyList_SET_ITEM(result, b, count);
        Py_ssize_t size = next[b];
        next[b] = start;
        start += size;
    }
    /* Known frames: from the end of bucket 0 to the start of the short ones. */
    Py_ssize_t first_known = next[1], end_known = next[nbuckets - 2];
    Py_ssize_t *order = (Py_ssize_t *)order_buf.buf;
    uint64_t *words = (uint64_t *)words_buf.buf;
    double *times = (double *)times_buf.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        const unsigned char *record = records + i * itemsize;
        Py_ssize_t position = next[frame_bucket[i]]++;
        order[position] = i;
        if (position < first_known || position >= end_known) {
            continue;
        }
        Py_ssize_t at = position - first_known;
        memcpy(times + at, record, sizeof(double));
        for (Py_ssize_t c = 0; c < columns; c++) {
            uint64_t word;
            memcpy(&word, record + data_offset + 8 * c, sizeof word);
#if PY_BIG_ENDIAN
            word = __builtin_bswap64(word);
#endif
            words[at * columns + c] = word;
        }
    }
done:
    PyMem_Free(frame_bucket);
    PyMem_Free(next);
    PyBuffer_Release(&batch_buf);
    PyBuffer_Release(&row_buf);
    PyBuffer_Release(&pairs_buf);
    PyBuffer_Release(&order_buf);
    PyBuffer_Release(&words_buf);
    PyBuffer_Release(&times_buf);
    return result;
}

static PyMethodDef methods[] = {
    {"decode_rows", decode_rows, METH_VARARGS, decode_rows_doc},
    {"group_standard", group_standard, METH_VARARGS, group_standard_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "_kernels",
    "The DBC decoder's compiled kernels (protocols/dbc/kernels.py).",
    -1,
    methods,
};

PyMODINIT_FUNC
PyInit__kernels(void)
{
    return PyModule_Create(&module);
}
