/* export.h: SYSVMQ_EXPORT marks the public API of libsysvmq. The library is built with
   hidden visibility, so only what carries this macro is visible outside it.
   Not here: the API itself (sysvmq.h for C, client.hpp for C++). */
#ifndef SYSVMQ_EXPORT_H
#define SYSVMQ_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define SYSVMQ_EXPORT __attribute__((visibility("default")))
#else
#define SYSVMQ_EXPORT
#endif

#endif /* SYSVMQ_EXPORT_H */
