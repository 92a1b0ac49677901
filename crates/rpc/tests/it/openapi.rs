use couponchain_rpc::openapi::document_json;
use serde_json::Value;

fn doc() -> Value {
    serde_json::from_str(&document_json().unwrap()).unwrap()
}

const ROUTES: &[(&str, &str)] = &[
    ("post", "/v1/txs"),
    ("post", "/v1/txs/batch"),
    ("get", "/v1/txs/{id}"),
    ("get", "/v1/coupons/{id}"),
    ("get", "/v1/coupons/{id}/proof"),
    ("get", "/v1/owners/{key}/coupons"),
    ("get", "/v1/campaigns/{id}"),
    ("get", "/v1/issuers/{key}/campaigns"),
    ("get", "/v1/accounts/{key}"),
    ("get", "/v1/proposals/{id}"),
    ("get", "/v1/validators"),
    ("get", "/v1/evidence"),
    ("get", "/v1/blocks/latest"),
    ("get", "/v1/blocks/{height}"),
    ("get", "/v1/blocks/by-hash/{hash}"),
    ("get", "/v1/blocks/{height}/receipts"),
    ("get", "/v1/headers"),
    ("get", "/v1/status"),
    ("get", "/v1/events"),
    ("get", "/health"),
    ("get", "/ready"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
];

fn param_names(op: &Value, location: &str) -> Vec<String> {
    op["parameters"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter(|p| p["in"] == location)
                .map(|p| p["name"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_route_is_documented_with_its_errors() {
    let doc = doc();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(
        paths.len(),
        ROUTES.len(),
        "{:?}",
        paths.keys().collect::<Vec<_>>()
    );
    for (method, path) in ROUTES {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} missing");
        let responses = op["responses"].as_object().unwrap();
        assert!(responses.contains_key("200"), "{path}");
        for status in ["500", "503", "504"] {
            let r = &responses[status];
            assert_eq!(
                r["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorBody",
                "{path} {status}"
            );
        }
        // Every path template parameter is declared.
        let declared = param_names(op, "path");
        for seg in path.split('/').filter(|s| s.starts_with('{')) {
            let name = seg.trim_matches(|c| c == '{' || c == '}');
            assert!(
                declared.iter().any(|d| d == name),
                "{path}: {name} undeclared"
            );
        }
    }
}

#[test]
fn precise_shapes() {
    let doc = doc();
    let schemas = &doc["components"]["schemas"];
    let required = |name: &str| {
        let mut r: Vec<String> = schemas[name]["required"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: {}", schemas[name]))
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        r.sort();
        r
    };
    assert_eq!(required("ErrorBody"), ["code", "message"]);
    assert_eq!(required("SubmitOutcome"), ["status", "tx"]);
    assert_eq!(
        required("NodeStatus"),
        [
            "chain_id",
            "head",
            "mempool_bytes",
            "mempool_txs",
            "peers",
            "ready",
            "role",
            "version"
        ]
    );
    assert_eq!(
        required("Head"),
        ["hash", "height", "state_root", "time_ms"]
    );
    let statuses: Vec<&str> = schemas["SubmitStatus"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["accepted", "final", "refused", "timeout"]);
    assert!(schemas["CampaignReport"]["properties"]["revoked_with_campaign"].is_object());
    assert_eq!(schemas["CouponState"]["enum"].as_array().unwrap().len(), 7);

    let submit = &doc["paths"]["/v1/txs"]["post"];
    assert_eq!(
        param_names(submit, "query"),
        ["wait", "timeout_ms", "receipts"]
    );
    assert_eq!(required("BriefReceipt"), ["applied", "height", "index"]);
    let content = submit["requestBody"]["content"].as_object().unwrap();
    assert!(
        content.contains_key("application/json")
            && content.contains_key("application/octet-stream")
    );
    assert!(submit["responses"]["422"].is_object());
    for status in ["400", "413", "415"] {
        assert!(submit["responses"][status].is_object(), "{status}");
    }
    let owners = &doc["paths"]["/v1/owners/{key}/coupons"]["get"];
    assert_eq!(param_names(owners, "query"), ["after", "limit"]);
    let events = &doc["paths"]["/v1/events"]["get"];
    assert_eq!(param_names(events, "query"), ["from_height"]);
    assert_eq!(param_names(events, "header"), ["Last-Event-ID"]);
    assert!(events["responses"]["200"]["content"]["text/event-stream"].is_object());
    assert_eq!(
        param_names(&doc["paths"]["/v1/headers"]["get"], "query"),
        ["from", "limit"]
    );
}

#[test]
#[ignore = "prints the document"]
fn print_document() {
    println!("{}", serde_json::to_string_pretty(&doc()).unwrap());
}
