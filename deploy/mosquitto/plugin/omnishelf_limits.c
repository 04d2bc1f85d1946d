/*
 * omnishelf_limits: per-role message limits for the store broker (Mosquitto 2.0 plugin, v5 API).
 *
 * Mosquitto's own limits (max_packet_size, message_size_limit, retain_available,
 * max_queued_messages) apply to every client alike, but HQ must send a store-wide catalog batch
 * of up to ~30 MB while a label never needs more than a few KB. This plugin tells them apart by
 * username: the service accounts (controller-*, hq-*, observer-*; the ACL confines each to its
 * store) are not limited here; every other client is a device or an access point and may
 *   - publish at most `device_max_payload` bytes (default 65536), and
 *   - retain only its versioned state documents (channels birth, death, reported; PROTOCOL.md
 *     §2.5), of at most `device_max_retained` bytes (default 4096).
 * The check runs on Mosquitto's ACL event, so it covers a device's Will (checked when the broker
 * sends it) as well as its publishes. It returns "defer" for everything else, so the password file and
 * the ACL file decide as before. Each refusal is logged (log_type notice).
 *
 * Build: cc -shared -fPIC -O2 -o omnishelf_limits.so omnishelf_limits.c
 * (Debian: mosquitto-dev and libmosquitto-dev for the headers; controller/limits_plugin.py
 * builds it for `omnishelf broker` and the tests.)
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

static mosquitto_plugin_id_t *plugin_id = NULL;
static uint32_t device_max_payload = 65536;
static uint32_t device_max_retained = 4096;

static const char *SERVICE_PREFIXES[] = {"controller-", "hq-", "observer-"};
static const char *RETAINED_CHANNELS[] = {"birth", "death", "reported"};

static bool starts_with(const char *text, const char *prefix)
{
	return strncmp(text, prefix, strlen(prefix)) == 0;
}

static bool is_service_account(const char *username)
{
	for(size_t i = 0; i < sizeof(SERVICE_PREFIXES) / sizeof(SERVICE_PREFIXES[0]); i++){
		if(starts_with(username, SERVICE_PREFIXES[i])) return true;
	}
	return false;
}

static bool is_state_channel(const char *topic)
{
	const char *channel = strrchr(topic, '/');
	channel = channel ? channel + 1 : topic;
	for(size_t i = 0; i < sizeof(RETAINED_CHANNELS) / sizeof(RETAINED_CHANNELS[0]); i++){
		if(strcmp(channel, RETAINED_CHANNELS[i]) == 0) return true;
	}
	return false;
}

static int refuse(const char *username, const char *topic, uint32_t size, const char *why)
{
	mosquitto_log_printf(MOSQ_LOG_NOTICE, "omnishelf_limits: refused %s from %s on %s (%u bytes)",
			why, username, topic, (unsigned)size);
	return MOSQ_ERR_ACL_DENIED;
}

static int on_acl_check(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_acl_check *ed = event_data;
	(void)event;
	(void)userdata;

	if(ed->access != MOSQ_ACL_WRITE) return MOSQ_ERR_PLUGIN_DEFER;
	const char *username = mosquitto_client_username(ed->client);
	if(username == NULL) return MOSQ_ERR_ACL_DENIED;  /* anonymous: never allowed anyway */
	if(is_service_account(username)) return MOSQ_ERR_PLUGIN_DEFER;

	if(ed->payloadlen > device_max_payload){
		return refuse(username, ed->topic, ed->payloadlen, "an oversized message");
	}
	if(ed->retain && ed->payloadlen > 0){
		if(!is_state_channel(ed->topic)){
			return refuse(username, ed->topic, ed->payloadlen, "a retained non-state message");
		}
		if(ed->payloadlen > device_max_retained){
			return refuse(username, ed->topic, ed->payloadlen, "an oversized retained message");
		}
	}
	return MOSQ_ERR_PLUGIN_DEFER;
}

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
	for(int i = 0; i < supported_version_count; i++){
		if(supported_versions[i] == 5) return 5;
	}
	return -1;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **user_data,
		struct mosquitto_opt *opts, int opt_count)
{
	(void)user_data;
	plugin_id = identifier;
	for(int i = 0; i < opt_count; i++){
		long value = strtol(opts[i].value, NULL, 10);
		if(value <= 0) return MOSQ_ERR_INVAL;
		if(strcmp(opts[i].key, "device_max_payload") == 0){
			device_max_payload = (uint32_t)value;
		}else if(strcmp(opts[i].key, "device_max_retained") == 0){
			device_max_retained = (uint32_t)value;
		}else{
			return MOSQ_ERR_INVAL;
		}
	}
	return mosquitto_callback_register(plugin_id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL, NULL);
}

int mosquitto_plugin_cleanup(void *user_data, struct mosquitto_opt *opts, int opt_count)
{
	(void)user_data;
	(void)opts;
	(void)opt_count;
	return mosquitto_callback_unregister(plugin_id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL);
}
