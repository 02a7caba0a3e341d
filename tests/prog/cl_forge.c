/*
 * cl_forge URL NODE ISOLATE [KEYFILE]: a hostile peer of the cluster.
 * Publishes, straight on NATS, a frame for port 1 of ISOLATE (16 hex
 * digits) on NODE with a key it made up, and waits 5 s for NODE's answer
 * on its own ack subject. Prints the answer as JSON ("none" if it never
 * came) and exits 0 when the frame was refused (EACCES).
 *
 * With KEYFILE (NODE's supervisor/cluster.key), the peer first sends a
 * frame with the port's true key, made from that file as NODE makes it,
 * on the same stream: that one must be taken (acknowledged, not
 * refused) and the made-up one after it still refused; a key found good
 * once is no licence for the next.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <nats/nats.h>

#include "isolate.h"

static natsConnection	*nc;
static natsSubscription	*sub;
static const char	*node, *iso;

/* A batch of one frame: its length, port 1, then the string "hi". */
static const char	 frame[] = { 0, 0, 0, 4, 0x01, (char)0xa2, 'h', 'i' };

/* Publish the frame as seq of our stream, with key: 0, or -1. */
static int
forge(int seq, const char *key)
{
	natsMsg	*m = NULL;
	char	 subj[128], head[128], sum[9], seqs[16], keys[64];
	uLong	 crc;
	int	 ok;

	snprintf(subj, sizeof subj, "iso.node.%s.port", node);
	snprintf(seqs, sizeof seqs, "%d", seq);
	snprintf(keys, sizeof keys, "1:%s", key);
	/* Iso-Sum is a checksum, not a secret: a forger computes it. */
	snprintf(head, sizeof head, "0123456789abcdef:%d:%s:1:%s", seq, iso,
	    key);
	crc = crc32(crc32(0L, Z_NULL, 0), (const Bytef *)head,
	    (uInt)strlen(head));
	crc = crc32(crc, (const Bytef *)frame, sizeof frame);
	snprintf(sum, sizeof sum, "%08lx", (unsigned long)(crc & 0xffffffff));
	ok = natsMsg_Create(&m, subj, NULL, frame, sizeof frame) == NATS_OK &&
	    natsMsgHeader_Set(m, "Iso-From", "forger") == NATS_OK &&
	    natsMsgHeader_Set(m, "Iso-Stream", "0123456789abcdef") == NATS_OK &&
	    natsMsgHeader_Set(m, "Iso-Seq", seqs) == NATS_OK &&
	    natsMsgHeader_Set(m, "Iso-Sum", sum) == NATS_OK &&
	    natsMsgHeader_Set(m, "Iso-Base", "0") == NATS_OK &&
	    natsMsgHeader_Set(m, "Iso-To", iso) == NATS_OK &&
	    natsMsgHeader_Set(m, "Iso-Keys", keys) == NATS_OK &&
	    natsConnection_PublishMsg(nc, m) == NATS_OK;
	natsMsg_Destroy(m);
	if (!ok)
		fprintf(stderr, "cl_forge: %s\n", nats_GetLastError(NULL));
	return (ok ? 0 : -1);
}

/* The next answer, printed; *gone its "gone" ("" none), *upto its upto.
   0, or -1 when none came. */
static int
answer(char *gone, size_t len, uint64_t *upto)
{
	natsMsg		*ack = NULL;
	iso_msg		*a;
	const char	*g = "";
	char		*json;

	if (natsSubscription_NextMsg(&ack, sub, 5000) != NATS_OK) {
		printf("none\n");
		return (-1);
	}
	a = iso_msg_decode(natsMsg_GetData(ack),
	    (size_t)natsMsg_GetDataLength(ack));
	json = a != NULL ? iso_msg_to_json(a) : NULL;
	printf("%s\n", json != NULL ? json : "bad");
	*upto = 0;
	if (a != NULL)
		(void)iso_msg_unpack(a, "{s?s s?U}", "gone", &g, "upto", upto);
	snprintf(gone, len, "%s", g);
	free(json);
	iso_msg_free(a);
	natsMsg_Destroy(ack);
	return (0);
}

/* The true key of port 1 of iso, from NODE's key file: 0, or -1. */
static int
true_key(const char *path, char out[33])
{
	unsigned char	 k[32], data[12], mac[EVP_MAX_MD_SIZE];
	unsigned int	 len = 0, b;
	uint64_t	 id = strtoull(iso, NULL, 16);
	const char	*hex;
	char		 text[512];
	iso_msg		*m;
	size_t		 n;
	FILE		*f;
	int		 i;

	if ((f = fopen(path, "re")) == NULL)
		return (-1);
	n = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	text[n] = '\0';
	if ((m = iso_msg_from_json(text)) == NULL ||
	    iso_msg_unpack(m, "{s:s}", "key", &hex) == -1 ||
	    strlen(hex) != 64) {
		iso_msg_free(m);
		return (-1);
	}
	for (i = 0; i < 32 && sscanf(hex + 2 * i, "%2x", &b) == 1; i++)
		k[i] = (unsigned char)b;
	iso_msg_free(m);
	if (i != 32)
		return (-1);
	for (i = 0; i < 8; i++)
		data[i] = (unsigned char)(id >> (56 - 8 * i));
	memset(data + 8, 0, 3);
	data[11] = 1;			/* port 1 */
	if (HMAC(EVP_sha256(), k, sizeof k, data, sizeof data, mac, &len) ==
	    NULL)
		return (-1);
	for (i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", mac[i]);
	return (0);
}

int
main(int argc, char **argv)
{
	static const char	 made_up[] = "00000000000000000000000000000000";
	char			 gone[32], key[33];
	uint64_t		 upto;
	int			 ok, seq = 1;

	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: cl_forge URL NODE ISOLATE [KEYFILE]\n");
		return (2);
	}
	node = argv[2];
	iso = argv[3];
	if (argc == 5 && true_key(argv[4], key) == -1) {
		fprintf(stderr, "cl_forge: cannot make the key from %s\n",
		    argv[4]);
		return (2);
	}
	if (natsConnection_ConnectTo(&nc, argv[1]) != NATS_OK ||
	    natsConnection_SubscribeSync(&sub, nc, "iso.node.forger.ack") !=
	    NATS_OK) {
		fprintf(stderr, "cl_forge: %s\n", nats_GetLastError(NULL));
		return (2);
	}
	ok = 1;
	if (argc == 5) {
		/* The true key: taken, acknowledged, nothing gone. */
		ok = forge(seq, key) == 0 && answer(gone, sizeof gone, &upto) ==
		    0 && gone[0] == '\0' && upto == 1;
		seq++;
	}
	ok = ok && forge(seq, made_up) == 0 &&
	    answer(gone, sizeof gone, &upto) == 0 &&
	    strcmp(gone, "EACCES") == 0;
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(nc);
	nats_Close();
	return (ok ? 0 : 1);
}
