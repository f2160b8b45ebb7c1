"""RulesJSON: an ACL policy's rules as acl.Parse returns them (acl/policy.go), the capabilities
a block names first, then those of its policy shorthand, then those they imply."""

from tapit.agent.acl_rules import rules_json

RULES = """
namespace "apps" {
  policy       = "scale"
  capabilities = ["host-volume-create"]
  variables {
    path "app/*" { capabilities = ["read"] }
    path "secret" { capabilities = ["write", "deny"] }
  }
}
node_pool "prod" { policy = "write" }
node { policy = "read" }
operator { policy = "read" }
"""


def test_blocks_are_parsed_and_their_shorthands_expanded_as_acl_parse_does():
    parsed = rules_json(RULES)
    (ns,) = parsed["Namespaces"]
    assert ns["Name"] == "apps" and ns["Policy"] == "scale"
    # Its own capability, the "scale" expansion, then what host-volume-create implies.
    assert ns["Capabilities"] == [
        "host-volume-create",
        "list-scaling-policies",
        "read-scaling-policy",
        "read-job-scaling",
        "scale-job",
        "read-job",
        "submit-recommendation",
        "host-volume-read",
    ]
    # expandVariablesCapabilities: read brings list; deny is all there is.
    assert ns["Variables"] == {
        "Paths": [
            {"PathSpec": "app/*", "Capabilities": ["read", "list"]},
            {"PathSpec": "secret", "Capabilities": ["deny"]},
        ]
    }
    assert parsed["NodePools"] == [{"Name": "prod", "Policy": "write", "Capabilities": ["delete", "read", "write"]}]
    assert parsed["Node"] == {"Policy": "read"} and parsed["Agent"] is None
    assert parsed["Operator"] == {"Policy": "read", "Capabilities": ["license-read", "keyring-read"]}
    assert parsed["HostVolumes"] is None and parsed["ExtraKeysHCL"] is None and parsed["Raw"] == RULES
