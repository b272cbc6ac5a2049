/* The SocketCAN reader's compiled kernel (hal/can/received.py).
 *
 * parse_received: the usual burst recvmmsg delivered (classic data frames with 11-bit ids,
 * each with the kernel's SO_TIMESTAMPNS stamp and maybe its SO_RXQ_OVFL count) into a frame
 * batch in one pass over the slots, the headers and the control buffers; what numpy does in
 * control_stamps, MmsgReceiver.sizes and parse_slots, each a sweep of the burst.
 *
 * Built with -ffp-contract=off: seconds + nanoseconds * 1e-9 must round twice, as numpy does.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

/* hal.can.frames.FRAME_DTYPE (packed): checked against it by hal/can/received.py. */
#define FRAME_SIZE 78
#define AT_ID 8
#define AT_FLAGS 12
#define AT_DLC 13
#define AT_DATA 14
#define DATA_ROOM 64
/* <linux/can.h> */
#define CANFD_MTU 72
#define CAN_MTU 16
#define CLASSIC_MAX_DATA 8
#define NOT_STANDARD_DATA 0xE0000000u /* CAN_EFF_FLAG | CAN_RTR_FLAG | CAN_ERR_FLAG */
#define CAN_SFF_MASK 0x7FFu
/* <asm-generic/socket.h>, as hal/can/socketcan_mmsg.py has them */
#define STAMP_KIND 35 /* SO_TIMESTAMPNS */
#define DROPS_KIND 40 /* SO_RXQ_OVFL */

/* The stamp SO_TIMESTAMPNS delivers: two longs (socketcan_structs.TIMESPEC), whatever width
 * the C library's own struct timespec has. */
typedef struct {
    long sec;
    long nsec;
} Stamp;

static int
is_message(const unsigned char *at, size_t length, int kind)
{
    struct cmsghdr header;
    memcpy(&header, at, sizeof header);
    return header.cmsg_len == length && header.cmsg_level == SOL_SOCKET &&
           header.cmsg_type == kind;
}

PyDoc_STRVAR(parse_received_doc,
"parse_received(slots, count, headers, header_size, msg_len_at, controllen_at, control,\n"
"               control_size, out)\n\n"
"Parse the first ``count`` records recvmmsg read into ``out`` (a FRAME_DTYPE batch of at\n"
"least ``count`` rows): slot i is ``slots[72 i:]``, its header ``headers[header_size i:]``\n"
"(msg_len, a uint32, at ``msg_len_at``; msg_controllen, a size_t, at ``controllen_at``),\n"
"its control buffer ``control[control_size i:]``. Returns (unstamped, drops): the records\n"
"without a stamp (their time NaN) and the newest drop count (None: none came); or None,\n"
"``out`` then undefined, when a record is not a classic data frame with an 11-bit id and a\n"
"length up to 8 or its control buffer is not a stamp, then maybe a drop count. Raises\n"
"ValueError for buffers too small or offsets outside a header.");

static PyObject *
parse_received(PyObject *self, PyObject *args)
{
    Py_buffer slots_buf, headers_buf, control_buf, out_buf;
    Py_ssize_t count, header_size, msg_len_at, controllen_at, control_size;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "y*ny*nnny*nw*", &slots_buf, &count, &headers_buf, &header_size,
                          &msg_len_at, &controllen_at, &control_buf, &control_size, &out_buf)) {
        return NULL;
    }
    const size_t stamp_length = CMSG_LEN(sizeof(Stamp));
    const size_t stamp_space = CMSG_SPACE(sizeof(Stamp));
    const size_t drops_length = CMSG_LEN(sizeof(uint32_t));
    const size_t both_space = stamp_space + CMSG_SPACE(sizeof(uint32_t));
    if (count < 0 || header_size < 1 || msg_len_at < 0 ||
        msg_len_at + (Py_ssize_t)sizeof(uint32_t) > header_size || controllen_at < 0 ||
        controllen_at + (Py_ssize_t)sizeof(size_t) > header_size ||
        control_size != (Py_ssize_t)both_space) {
        PyErr_SetString(PyExc_ValueError, "bad count, header offsets or control size");
        goto done;
    }
    if (slots_buf.len / CANFD_MTU < count || headers_buf.len / header_size < count ||
        control_buf.len / control_size < count || out_buf.len / FRAME_SIZE < count) {
        PyErr_Format(PyExc_ValueError, "a buffer is too small for %zd records", count);
        goto done;
    }
    const unsigned char *slots = slots_buf.buf, *headers = headers_buf.buf;
    const unsigned char *control = control_buf.buf;
    unsigned char *out = out_buf.buf;
    Py_ssize_t unstamped = 0;
    int64_t drops = -1;
    for (Py_ssize_t i = 0; i < count; i++) {
        const unsigned char *slot = slots + i * CANFD_MTU;
        const unsigned char *header = headers + i * header_size;
        const unsigned char *cmsg = control + i * control_size;
        uint32_t delivered, can_id;
        size_t used;
        memcpy(&delivered, header + msg_len_at, sizeof delivered);
        memcpy(&used, header + controllen_at, sizeof used);
        memcpy(&can_id, slot, sizeof can_id);
        const uint8_t length = slot[4]; /* struct can_frame's len */
        if (delivered != CAN_MTU || (can_id & NOT_STANDARD_DATA) || length > CLASSIC_MAX_DATA ||
            !is_message(cmsg, stamp_length, STAMP_KIND)) {
            goto unusual;
        }
        if (used == both_space && is_message(cmsg + stamp_space, drops_length, DROPS_KIND)) {
            uint32_t dropped;
            memcpy(&dropped, cmsg + stamp_space + CMSG_LEN(0), sizeof dropped);
            drops = dropped;
        } else if (used != stamp_space) {
            goto unusual;
        }
        Stamp stamp;
        memcpy(&stamp, cmsg + CMSG_LEN(0), sizeof stamp);
        double seconds = NAN;
        if (stamp.sec != 0) {
            seconds = (double)stamp.sec + (double)stamp.nsec * 1e-9;
        } else {
            unstamped++;
        }
        unsigned char *row = out + i * FRAME_SIZE;
        const uint32_t id = can_id & CAN_SFF_MASK;
        memcpy(row, &seconds, sizeof seconds);
        memcpy(row + AT_ID, &id, sizeof id);
        row[AT_FLAGS] = 0;
        row[AT_DLC] = length;
        memcpy(row + AT_DATA, slot + 8, length);
        memset(row + AT_DATA + length, 0, DATA_ROOM - length);
    }
    if (drops < 0) {
        result = Py_BuildValue("(nO)", unstamped, Py_None);
    } else {
        result = Py_BuildValue("(nL)", unstamped, (long long)drops);
    }
    goto done;
unusual:
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&slots_buf);
    PyBuffer_Release(&headers_buf);
    PyBuffer_Release(&control_buf);
    PyBuffer_Release(&out_buf);
    return result;
}

static PyMethodDef methods[] = {
    {"parse_received", parse_received, METH_VARARGS, parse_received_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "_received",
    "The SocketCAN reader's compiled kernel (hal/can/received.py).",
    -1,
    methods,
};

PyMODINIT_FUNC
PyInit__received(void)
{
    return PyModule_Create(&module);
}
