use couponchain_rpc::params::{
    page_limit, parse_hash, parse_key, wait_duration, SubmitParams, WaitMode, DEFAULT_LIMIT,
    DEFAULT_WAIT, MAX_LIMIT,
};
use std::time::Duration;

fn params(wait: bool, timeout_ms: Option<u64>) -> SubmitParams {
    SubmitParams {
        wait: wait.then_some(WaitMode::Final),
        timeout_ms,
        receipts: None,
    }
}

#[test]
fn waits() {
    let max = Duration::from_secs(30);
    assert_eq!(wait_duration(&params(false, None), max).unwrap(), None);
    assert_eq!(
        wait_duration(&params(true, None), max).unwrap(),
        Some(DEFAULT_WAIT)
    );
    assert_eq!(DEFAULT_WAIT, Duration::from_secs(10));
    assert_eq!(
        wait_duration(&params(true, Some(2_500)), max).unwrap(),
        Some(Duration::from_millis(2_500))
    );
    assert_eq!(
        wait_duration(&params(true, Some(0)), max).unwrap(),
        Some(Duration::ZERO)
    );
    assert_eq!(
        wait_duration(&params(true, Some(u64::MAX)), max).unwrap(),
        Some(max)
    );
    // The default is capped too.
    let short = Duration::from_secs(3);
    assert_eq!(
        wait_duration(&params(true, None), short).unwrap(),
        Some(short)
    );
    let e = wait_duration(&params(false, Some(100)), max).unwrap_err();
    assert_eq!(e.code(), "bad_param");
}

#[test]
fn wait_mode_parses_only_final() {
    let q: SubmitParams = serde_json::from_value(serde_json::json!({"wait": "final"})).unwrap();
    assert_eq!(q.wait, Some(WaitMode::Final));
    assert!(
        serde_json::from_value::<SubmitParams>(serde_json::json!({"wait": "applied"})).is_err()
    );
}

#[test]
fn limits() {
    assert_eq!(page_limit(None).unwrap(), DEFAULT_LIMIT);
    assert_eq!(DEFAULT_LIMIT, 100);
    assert_eq!(page_limit(Some(1)).unwrap(), 1);
    assert_eq!(page_limit(Some(MAX_LIMIT)).unwrap(), 1000);
    for bad in [0, MAX_LIMIT + 1, usize::MAX] {
        let e = page_limit(Some(bad)).unwrap_err();
        assert_eq!((e.code(), e.status().as_u16()), ("bad_param", 400));
    }
}

#[test]
fn ids() {
    let hex = "ab".repeat(32);
    assert_eq!(parse_hash("id", &hex).unwrap().0, [0xab; 32]);
    assert_eq!(parse_hash("id", &format!("0x{hex}")).unwrap().0, [0xab; 32]);
    assert_eq!(parse_key("key", &hex).unwrap().0, [0xab; 32]);
    for bad in ["", "ab", "zz".repeat(32).as_str(), "ab".repeat(33).as_str()] {
        let e = parse_hash("id", bad).unwrap_err();
        assert_eq!(e.code(), "bad_param");
        assert!(e.to_string().starts_with("id: "), "{e}");
        assert_eq!(parse_key("key", bad).unwrap_err().code(), "bad_param");
    }
}
