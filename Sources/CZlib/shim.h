// zlib (Debian zlib1g-dev): inflate for deflated zip entries (.npz, PyTorch zip checkpoints), crc32.
#include <zlib.h>
