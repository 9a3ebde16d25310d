#ifndef LS_HPACK_H
#define LS_HPACK_H
#include <stddef.h>
#include <stdint.h>
#define H2H_PATH 1
#define H2H_METHOD 2
#define H2H_STATUS 4
#define H2H_GRPC_STATUS 8
struct h2_headers { unsigned have; char path[256]; char method[16]; int status; int grpc_status; };
struct hpack_dec;
struct hpack_dec *hpack_dec_new(void);
void hpack_dec_free(struct hpack_dec *d);
int hpack_dec_block(struct hpack_dec *d, const uint8_t *block, size_t len, int end_headers, struct h2_headers *out);
#endif
