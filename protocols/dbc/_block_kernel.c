/* The block decode of block_runner.LeanTable in one pass: for each row (a signal of a
 * message) and each frame of its message, the payload word shifted left, shifted right
 * (logically or arithmetically), masked, converted to double, multiplied and added to, in
 * numpy's order of operations, so that each value is the numpy passes' bit for bit.
 *
 * Built with -ffp-contract=off: a fused multiply-add (GCC's default on aarch64) would round
 * once where cantools and numpy round twice.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

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

static PyMethodDef methods[] = {
    {"decode_rows", decode_rows, METH_VARARGS, decode_rows_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "_block_kernel",
    "The block decode of block_runner.LeanTable, compiled.",
    -1,
    methods,
};

PyMODINIT_FUNC
PyInit__block_kernel(void)
{
    return PyModule_Create(&module);
}
