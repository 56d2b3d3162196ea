//! Network attachment types used by containers (moby `api/types/network`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::serde_util::{EmptyObject, nullable, nullable_map_values};

/// Go's `PortSet` (`{"80/tcp": {}}`): keys are `port/proto`.
pub type PortSet = BTreeMap<String, EmptyObject>;

/// Go's `PortMap`: `port/proto` to its host bindings. A port that is exposed
/// but not published maps to `null`, which `docker port` and
/// `docker inspect` show as such.
pub type PortMap = BTreeMap<String, Option<Vec<PortBinding>>>;

/// Network mode names with a fixed meaning.
pub const NETWORK_DEFAULT: &str = "default";
pub const NETWORK_BRIDGE: &str = "bridge";
pub const NETWORK_HOST: &str = "host";
pub const NETWORK_NONE: &str = "none";

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortBinding {
    /// Empty for all addresses.
    #[serde(
        rename = "HostIp",
        alias = "hostip",
        alias = "HostIP",
        default,
        deserialize_with = "nullable"
    )]
    pub host_ip: String,
    /// A port or a range (`8000-8010`); empty for a random port.
    #[serde(
        rename = "HostPort",
        alias = "hostport",
        default,
        deserialize_with = "nullable"
    )]
    pub host_port: String,
}

/// `NetworkingConfig` of `POST /containers/create`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkingConfig {
    #[serde(
        rename = "EndpointsConfig",
        alias = "endpointsconfig",
        default,
        deserialize_with = "nullable_map_values"
    )]
    pub endpoints_config: Option<BTreeMap<String, EndpointSettings>>,
}

/// A container's attachment to one network, as requested (create, connect)
/// and as reported (inspect, list).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointSettings {
    #[serde(rename = "IPAMConfig", alias = "ipamconfig", default)]
    pub ipam_config: Option<EndpointIpamConfig>,
    #[serde(rename = "Links", alias = "links", default)]
    pub links: Option<Vec<String>>,
    /// User-given DNS names for this endpoint.
    #[serde(rename = "Aliases", alias = "aliases", default)]
    pub aliases: Option<Vec<String>>,
    #[serde(rename = "DriverOpts", alias = "driveropts", default)]
    pub driver_opts: Option<BTreeMap<String, String>>,
    /// Which network supplies the default gateway: the highest wins.
    #[serde(
        rename = "GwPriority",
        alias = "gwpriority",
        default,
        deserialize_with = "nullable"
    )]
    pub gw_priority: i64,
    #[serde(
        rename = "NetworkID",
        alias = "networkid",
        default,
        deserialize_with = "nullable"
    )]
    pub network_id: String,
    #[serde(
        rename = "EndpointID",
        alias = "endpointid",
        default,
        deserialize_with = "nullable"
    )]
    pub endpoint_id: String,
    #[serde(
        rename = "Gateway",
        alias = "gateway",
        default,
        deserialize_with = "nullable"
    )]
    pub gateway: String,
    #[serde(
        rename = "IPAddress",
        alias = "ipaddress",
        default,
        deserialize_with = "nullable"
    )]
    pub ip_address: String,
    #[serde(
        rename = "MacAddress",
        alias = "macaddress",
        default,
        deserialize_with = "nullable"
    )]
    pub mac_address: String,
    #[serde(
        rename = "IPPrefixLen",
        alias = "ipprefixlen",
        default,
        deserialize_with = "nullable"
    )]
    pub ip_prefix_len: i64,
    #[serde(
        rename = "IPv6Gateway",
        alias = "ipv6gateway",
        default,
        deserialize_with = "nullable"
    )]
    pub ipv6_gateway: String,
    #[serde(
        rename = "GlobalIPv6Address",
        alias = "globalipv6address",
        default,
        deserialize_with = "nullable"
    )]
    pub global_ipv6_address: String,
    #[serde(
        rename = "GlobalIPv6PrefixLen",
        alias = "globalipv6prefixlen",
        default,
        deserialize_with = "nullable"
    )]
    pub global_ipv6_prefix_len: i64,
    /// All DNS names the container answers to on this network.
    #[serde(rename = "DNSNames", alias = "dnsnames", default)]
    pub dns_names: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointIpamConfig {
    #[serde(
        rename = "IPv4Address",
        alias = "ipv4address",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub ipv4_address: String,
    #[serde(
        rename = "IPv6Address",
        alias = "ipv6address",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub ipv6_address: String,
    #[serde(
        rename = "LinkLocalIPs",
        alias = "linklocalips",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub link_local_ips: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_endpoint_has_go_nulls() {
        let v = serde_json::to_value(EndpointSettings::default()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "IPAMConfig": null, "Links": null, "Aliases": null, "DriverOpts": null,
                "GwPriority": 0, "NetworkID": "", "EndpointID": "", "Gateway": "",
                "IPAddress": "", "MacAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
                "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": null
            })
        );
        assert_eq!(
            serde_json::to_string(&EndpointIpamConfig::default()).unwrap(),
            "{}"
        );
    }

    #[test]
    fn port_map_keeps_unpublished_null() {
        let m: PortMap = serde_json::from_str(
            r#"{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"}],"443/tcp":null}"#,
        )
        .unwrap();
        assert_eq!(m["443/tcp"], None);
        assert_eq!(m["80/tcp"].as_ref().unwrap()[0].host_port, "8080");
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"443/tcp":null,"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"}]}"#
        );
    }

    #[test]
    fn null_endpoint_is_accepted() {
        let n: NetworkingConfig =
            serde_json::from_str(r#"{"EndpointsConfig":{"mynet":null,"b":{"Aliases":["x"]}}}"#)
                .unwrap();
        let eps = n.endpoints_config.unwrap();
        assert_eq!(eps["mynet"], EndpointSettings::default());
        assert_eq!(eps["b"].aliases.as_deref(), Some(&["x".to_owned()][..]));
    }
}
