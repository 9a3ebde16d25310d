/*
 * Everything a session attached: libbpf links and uprobe_multi link fds.
 * Detaching closes them all, in parallel when there are many: removing a
 * uprobe waits for an RCU grace period, one after the other when done in turn.
 */
#ifndef LS_LINKS_H
#define LS_LINKS_H

#include <stddef.h>

struct bpf_link;
struct ls_links;

struct ls_links *ls_links_new(void);
/* Take ownership of l (destroyed on failure). 0 or -ENOMEM. */
int ls_links_add(struct ls_links *ls, struct bpf_link *l);
/* Take ownership of a link fd (closed on failure). 0 or -ENOMEM. */
int ls_links_add_fd(struct ls_links *ls, int fd);
/* How many libbpf links the set holds; ls_links_rollback(ls, n) detaches those added after that count. */
size_t ls_links_count(const struct ls_links *ls);
void ls_links_rollback(struct ls_links *ls, size_t n);
/* Detach everything (the set stays usable). */
void ls_links_detach(struct ls_links *ls);
/*
 * Detach everything in the sets (NULL ones skipped) and the extra links (NULL ones
 * skipped; the caller forgets them), all at once from several threads: the kernel's
 * waits overlap and no hook outlasts the others by the others' waits.
 */
void ls_links_detach_all(struct ls_links **sets, size_t nsets, struct bpf_link **more, size_t nmore);
/* Detach everything and free; NULL is a no-op. */
void ls_links_free(struct ls_links *ls);

#endif
