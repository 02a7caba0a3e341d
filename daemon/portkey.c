/*
 * portkey.c: the keys that let another node send to our ports, and the
 * list of SendPorts a message carries across. A port's key is
 * HMAC-SHA256(node key, isolate id | port), cut to 128 bits: unguessable
 * without the node key (supervisor/cluster.key: 32 random bytes made
 * once, mode 0600, kept across restarts so keys given out stay good),
 * and checked without a table. A SendPort crosses to another node only
 * with its key; a port there that holds none cannot be sent to.
 *
 * Iso-Ports, the header that lists the SendPorts of a message that
 * crosses: "ISO:PID:PORT:NODE:KEY" items, comma-separated (ISO and KEY
 * in lowercase hex, PID and PORT in decimal), for the node where each
 * port's isolate lives.
 */
#include <sys/random.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "cluster.h"
#include "wire.h"

#define PK_FILE		"cluster.key"	/* in the state directory */
#define PK_KEYLEN	32

static unsigned char	pk_key[PK_KEYLEN];

int
pk_init(const char *sdir)
{
	char		 path[4096], hex[2 * PK_KEYLEN + 1];
	const char	*text = NULL;
	iso_msg		*m;
	size_t		 i;
	unsigned int	 b;
	int		 r;

	if (snprintf(path, sizeof path, "%s/%s", sdir, PK_FILE) >=
	    (int)sizeof path) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	if ((m = state_read(path)) != NULL) {
		if (iso_msg_unpack(m, "{s:s}", "key", &text) == 0 &&
		    strlen(text) == 2 * PK_KEYLEN) {
			for (i = 0; i < PK_KEYLEN &&
			    sscanf(text + 2 * i, "%2x", &b) == 1; i++)
				pk_key[i] = (unsigned char)b;
			if (i == PK_KEYLEN) {
				iso_msg_free(m);
				return (0);
			}
		}
		iso_msg_free(m);
		log_warn("cluster: %s/%s is damaged; making a new key (keys "
		    "given out before no longer open our ports)", sdir,
		    PK_FILE);
	} else if (errno != ENOENT)
		return (-1);
	if (getrandom(pk_key, sizeof pk_key, 0) != (ssize_t)sizeof pk_key)
		return (-1);
	for (i = 0; i < PK_KEYLEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", pk_key[i]);
	if ((m = iso_msg_pack("{s:s}", "key", hex)) == NULL)
		return (-1);
	r = state_write(path, m);
	iso_msg_free(m);
	return (r);
}

void
pk_secret(uint64_t iso, uint32_t port, char out[PK_HEX + 1])
{
	unsigned char	data[12], mac[EVP_MAX_MD_SIZE];
	unsigned int	len = 0;
	int		i;

	for (i = 0; i < 8; i++)
		data[i] = (unsigned char)(iso >> (56 - 8 * i));
	for (i = 0; i < 4; i++)
		data[8 + i] = (unsigned char)(port >> (24 - 8 * i));
	(void)HMAC(EVP_sha256(), pk_key, sizeof pk_key, data, sizeof data,
	    mac, &len);
	for (i = 0; i < PK_HEX / 2; i++)
		snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

int
pk_check(uint64_t iso, uint32_t port, const char *hex)
{
	char		want[PK_HEX + 1];
	unsigned char	diff = 0;
	size_t		i;

	if (hex == NULL || strlen(hex) != PK_HEX)
		return (0);
	pk_secret(iso, port, want);
	for (i = 0; i < PK_HEX; i++)
		diff |= (unsigned char)(want[i] ^ hex[i]);
	return (diff == 0);
}

/* Add the SendPorts under m to *out (len *n, room *cap). -1 on ENOMEM. */
static int
pk_walk(const iso_msg *m, char **out, size_t *n, size_t *cap)
{
	iso_sendport	 sp;
	const char	*node, *key;
	char		 item[256], mine[PK_HEX + 1], *grown;
	size_t		 i, len;

	switch (iso_msg_type(m)) {
	case ISO_PORT:
		(void)iso_msg_sendport(m, &sp);
		if (gw_port_key(sp.isolate, sp.port, &node, &key) == -1) {
			/* Not a proxy's: one of ours. */
			node = cluster_node();
			pk_secret(sp.isolate, sp.port, mine);
			key = mine;
		}
		len = (size_t)snprintf(item, sizeof item, "%s%016" PRIx64
		    ":%" PRIu32 ":%" PRIu32 ":%s:%s", *n > 0 ? "," : "",
		    sp.isolate, sp.pid, sp.port, node, key);
		if (*n + len + 1 > *cap) {
			if ((grown = realloc(*out, *cap * 2 + len + 1)) ==
			    NULL)
				return (-1);
			*out = grown;
			*cap = *cap * 2 + len + 1;
		}
		memcpy(*out + *n, item, len + 1);
		*n += len;
		return (0);
	case ISO_LIST:
		for (i = 0; i < iso_msg_len(m); i++)
			if (pk_walk(iso_msg_at(m, i), out, n, cap) == -1)
				return (-1);
		return (0);
	case ISO_MAP:
		for (i = 0; i < iso_msg_len(m); i++)
			if (pk_walk(iso_msg_key_at(m, i), out, n, cap) == -1 ||
			    pk_walk(iso_msg_value_at(m, i), out, n, cap) == -1)
				return (-1);
		return (0);
	default:
		return (0);
	}
}

char *
pk_export_msg(const iso_msg *m)
{
	char	*out;
	size_t	 n = 0, cap = 64;

	if ((out = calloc(1, cap)) == NULL)
		return (NULL);
	if (pk_walk(m, &out, &n, &cap) == -1) {
		free(out);
		return (NULL);
	}
	return (out);
}

char *
pk_export(const void *buf, size_t len)
{
	iso_msg	*m;
	char	*out;

	/* A SendPort is fixext 16 of type 1: none without that byte. */
	if (memchr(buf, 0xd8, len) == NULL)
		return (calloc(1, 1));
	if ((m = iso_msg_decode(buf, len)) == NULL)
		return (calloc(1, 1));	/* not ours to judge: the receiver
					   drops a bad frame */
	out = pk_export_msg(m);
	iso_msg_free(m);
	return (out);
}

int
pk_import(const char *hdr)
{
	char		 item[256], node[65], key[PK_HEX + 1];
	const char	*p = hdr, *comma;
	uint64_t	 iso;
	uint32_t	 pid, port;
	size_t		 len;
	int		 bad = 0;

	while (*p != '\0') {
		comma = strchr(p, ',');
		len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (len < sizeof item) {
			memcpy(item, p, len);
			item[len] = '\0';
			if (sscanf(item, "%16" SCNx64 ":%" SCNu32 ":%" SCNu32
			    ":%64[A-Za-z0-9_-]:%32[0-9a-f]", &iso, &pid, &port,
			    node, key) == 5 && strlen(key) == PK_HEX &&
			    cluster_node_valid(node)) {
				if (strcmp(node, cluster_node()) != 0)
					(void)gw_proxy_add(iso, pid, node, port,
					    key);
			} else
				bad = 1;
		} else
			bad = 1;
		p += len;
		if (*p == ',')
			p++;
	}
	return (bad ? -1 : 0);
}

void
pk_sum(const char *stream, uint64_t seq, const char *to, const char *keys,
    const void *data, size_t len, char out[9])
{
	char	head[80];
	uLong	crc;
	int	n;

	n = snprintf(head, sizeof head, "%s:%" PRIu64 ":%s:", stream, seq, to);
	crc = crc32(0L, Z_NULL, 0);
	crc = crc32(crc, (const Bytef *)head, (uInt)n);
	if (keys != NULL)
		crc = crc32(crc, (const Bytef *)keys, (uInt)strlen(keys));
	if (len > 0)	/* crc32 of a NULL buffer starts again at 0 */
		crc = crc32(crc, (const Bytef *)data, (uInt)len);
	snprintf(out, 9, "%08lx", (unsigned long)(crc & 0xffffffffUL));
}

int
pk_frame_port(const void *buf, size_t len, uint32_t *port, size_t *off)
{
	const unsigned char	*p = buf;

	if (len > 0 && p[0] < 0x80) {
		*port = p[0];
		*off = 1;
	} else if (len > 1 && p[0] == 0xcc) {
		*port = p[1];
		*off = 2;
	} else if (len > 2 && p[0] == 0xcd) {
		*port = (uint32_t)p[1] << 8 | p[2];
		*off = 3;
	} else if (len > 4 && p[0] == 0xce) {
		*port = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 |
		    (uint32_t)p[3] << 8 | p[4];
		*off = 5;
	} else
		return (-1);
	return (0);
}
