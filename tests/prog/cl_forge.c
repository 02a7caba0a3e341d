/*
 * cl_forge URL NODE ISOLATE: a hostile peer of the cluster. Publishes,
 * straight on NATS, a frame for port 1 of ISOLATE (16 hex digits) on
 * NODE with a key it made up, and waits 5 s for NODE's answer on its own
 * ack subject. Prints the answer as JSON ("none" if it never came) and
 * exits 0 when the frame was refused (EACCES).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include <nats/nats.h>

#include "isolate.h"

int
main(int argc, char **argv)
{
	natsConnection		*nc = NULL;
	natsSubscription	*sub = NULL;
	natsMsg			*m = NULL, *ack = NULL;
	iso_msg			*a;
	const char		*gone = "";
	char			 subj[128], *json, head[128], sum[9];
	uLong			 crc;
	/* port 1, then the string "hi" */
	static const char	 frame[] = { 0x01, (char)0xa2, 'h', 'i' };
	int			 ok;

	if (argc != 4) {
		fprintf(stderr, "usage: cl_forge URL NODE ISOLATE\n");
		return (2);
	}
	snprintf(subj, sizeof subj, "iso.node.%s.port", argv[2]);
	/* Iso-Sum is a checksum, not a secret: a forger computes it. */
	snprintf(head, sizeof head, "0123456789abcdef:1:%s:%s", argv[3],
	    "00000000000000000000000000000000");
	crc = crc32(crc32(0L, Z_NULL, 0), (const Bytef *)head,
	    (uInt)strlen(head));
	crc = crc32(crc, (const Bytef *)frame, sizeof frame);
	snprintf(sum, sizeof sum, "%08lx", (unsigned long)(crc & 0xffffffff));
	if (natsConnection_ConnectTo(&nc, argv[1]) != NATS_OK ||
	    natsConnection_SubscribeSync(&sub, nc, "iso.node.forger.ack") !=
	    NATS_OK ||
	    natsMsg_Create(&m, subj, NULL, frame, sizeof frame) != NATS_OK ||
	    natsMsgHeader_Set(m, "Iso-From", "forger") != NATS_OK ||
	    natsMsgHeader_Set(m, "Iso-Stream", "0123456789abcdef") != NATS_OK ||
	    natsMsgHeader_Set(m, "Iso-Seq", "1") != NATS_OK ||
	    natsMsgHeader_Set(m, "Iso-Sum", sum) != NATS_OK ||
	    natsMsgHeader_Set(m, "Iso-Base", "0") != NATS_OK ||
	    natsMsgHeader_Set(m, "Iso-To", argv[3]) != NATS_OK ||
	    natsMsgHeader_Set(m, "Iso-Key",
	    "00000000000000000000000000000000") != NATS_OK ||
	    natsConnection_PublishMsg(nc, m) != NATS_OK) {
		fprintf(stderr, "cl_forge: %s\n", nats_GetLastError(NULL));
		return (2);
	}
	if (natsSubscription_NextMsg(&ack, sub, 5000) != NATS_OK) {
		printf("none\n");
		ok = 0;
	} else {
		a = iso_msg_decode(natsMsg_GetData(ack),
		    (size_t)natsMsg_GetDataLength(ack));
		json = a != NULL ? iso_msg_to_json(a) : NULL;
		printf("%s\n", json != NULL ? json : "bad");
		ok = a != NULL && iso_msg_unpack(a, "{s:s}", "gone", &gone) ==
		    0 && strcmp(gone, "EACCES") == 0;
		free(json);
		iso_msg_free(a);
		natsMsg_Destroy(ack);
	}
	natsMsg_Destroy(m);
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(nc);
	nats_Close();
	return (ok ? 0 : 1);
}
