//! How the client reports: one readable line per submitted transaction ("final at height
//! 12: applied; coupon … redeemed: 1 taken, 0 remaining" or "final at height 12: REFUSED
//! already_spent: coupon … is used up"), the node's JSON with `--json`, and the exit status
//! (success only when every transaction was applied, or merely submitted with `--no-wait`;
//! otherwise an error whose message, the reason, main prints on stderr).

use super::http::describe_error;
use couponchain_chain::Hash;
use couponchain_rpc::{SubmitOutcome, SubmitStatus};
use couponchain_runtime::{CampaignStatus, Event, Outcome};

/// What became of a submission, as far as the exit status is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Applied,
    /// Submitted without waiting.
    Submitted,
    Failed(String),
}

/// The readable line for one outcome, and its verdict. `wait_ms` is the wait asked for
/// (None = `--no-wait`).
pub fn describe(o: &SubmitOutcome, wait_ms: Option<u64>) -> (String, Verdict) {
    match o.status {
        SubmitStatus::Final => match &o.receipt {
            Some(r) => match &r.outcome {
                Outcome::Applied { events } => (
                    format!(
                        "final at height {}: applied; {}",
                        r.height,
                        summarize_events(events)
                    ),
                    Verdict::Applied,
                ),
                Outcome::Refused { code, message } => {
                    let reason = format!("REFUSED {code}: {message}");
                    (
                        format!("final at height {}: {reason}", r.height),
                        Verdict::Failed(format!("transaction {} {reason}", o.tx)),
                    )
                }
            },
            None => (
                format!("transaction {} is final (the node sent no receipt)", o.tx),
                Verdict::Failed(format!("no receipt for final transaction {}", o.tx)),
            ),
        },
        SubmitStatus::Refused => {
            let reason = match &o.error {
                Some(e) => describe_error(e),
                None => "no reason given".into(),
            };
            (
                format!("not admitted: REFUSED {reason}"),
                Verdict::Failed(format!("transaction {} not admitted: {reason}", o.tx)),
            )
        }
        SubmitStatus::Accepted => {
            let line = format!(
                "submitted {} (not waiting for finality; check with `couponchain tx {}`)",
                o.tx, o.tx
            );
            if wait_ms.is_none() {
                (line, Verdict::Submitted)
            } else {
                (
                    line,
                    Verdict::Failed(format!("transaction {} is not final yet", o.tx)),
                )
            }
        }
        SubmitStatus::Timeout => {
            let waited = wait_ms
                .map(|w| format!(" within {w} ms"))
                .unwrap_or_default();
            (
                format!(
                    "submitted {}, but it was not final{waited}; it may still be included \
                     (check with `couponchain tx {}`)",
                    o.tx, o.tx
                ),
                Verdict::Failed(format!("transaction {} not final{waited}", o.tx)),
            )
        }
    }
}

/// Turns verdicts into the command's result: `Ok` if every one succeeded, otherwise an
/// error listing the failures.
pub fn finish(verdicts: &[Verdict]) -> anyhow::Result<()> {
    let failures: Vec<&str> = verdicts
        .iter()
        .filter_map(|v| match v {
            Verdict::Failed(r) => Some(r.as_str()),
            _ => None,
        })
        .collect();
    match failures.len() {
        0 => Ok(()),
        1 => Err(anyhow::anyhow!("{}", failures[0])),
        n => Err(anyhow::anyhow!(
            "{n} of {} transactions failed:\n  {}",
            verdicts.len(),
            failures.join("\n  ")
        )),
    }
}

fn short(h: &Hash) -> String {
    h.to_hex()
}

fn status_word(s: CampaignStatus) -> &'static str {
    match s {
        CampaignStatus::Active => "active",
        CampaignStatus::Paused => "paused",
        CampaignStatus::Revoked => "revoked",
    }
}

/// One event, in words.
pub fn event_line(e: &Event) -> String {
    match e {
        Event::CampaignCreated { campaign, issuer } => {
            format!("campaign {} created by {issuer}", short(campaign))
        }
        Event::CampaignStatusChanged { campaign, status } => {
            format!(
                "campaign {} is now {}",
                short(campaign),
                status_word(*status)
            )
        }
        Event::CouponIssued {
            coupon,
            owner,
            bearer,
            ..
        } => format!(
            "coupon {} issued to {owner}{}",
            short(coupon),
            if *bearer { " (bearer)" } else { "" }
        ),
        Event::CouponTransferred { coupon, to, .. } => {
            format!("coupon {} transferred to {to}", short(coupon))
        }
        Event::CouponClaimed { coupon, to, .. } => {
            format!("coupon {} claimed into {to}", short(coupon))
        }
        Event::CouponRedeemed {
            coupon,
            site,
            amount,
            remaining,
            ..
        } => format!(
            "coupon {} redeemed at {site}: {amount} taken, {remaining} remaining",
            short(coupon)
        ),
        Event::CouponRevoked { coupon, .. } => format!("coupon {} revoked", short(coupon)),
        Event::ProposalCreated { proposal, .. } => {
            format!("proposal {} created", short(proposal))
        }
        Event::ProposalApproved {
            approver,
            approvals,
            needed,
            ..
        } => format!("approved by {approver} ({approvals} of {needed} approvals needed)"),
        Event::ProposalExecuted { proposal, .. } => {
            format!("proposal {} EXECUTED", short(proposal))
        }
        Event::ValidatorSetScheduled {
            from_height,
            validators,
        } => format!(
            "a validator set of {} takes effect at height {from_height}",
            validators.len()
        ),
    }
}

/// All events of one transaction, in words; long issue lists are counted, not listed.
pub fn summarize_events(events: &[Event]) -> String {
    let issued = events
        .iter()
        .filter(|e| matches!(e, Event::CouponIssued { .. }))
        .count();
    if issued > 3 {
        let campaign = events.iter().find_map(|e| match e {
            Event::CouponIssued { campaign, .. } => Some(*campaign),
            _ => None,
        });
        let mut parts = vec![format!(
            "{issued} coupons of campaign {} issued",
            campaign.map(|c| short(&c)).unwrap_or_default()
        )];
        parts.extend(
            events
                .iter()
                .filter(|e| !matches!(e, Event::CouponIssued { .. }))
                .map(event_line),
        );
        return parts.join("; ");
    }
    if events.is_empty() {
        return "no events".into();
    }
    events.iter().map(event_line).collect::<Vec<_>>().join("; ")
}

/// Chain time (ms since the Unix epoch) as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn fmt_time(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use couponchain_runtime::Receipt;

    #[test]
    fn formats_times() {
        assert_eq!(fmt_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(fmt_time(1_700_000_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(fmt_time(951_782_400_000), "2000-02-29 00:00:00 UTC");
    }

    #[test]
    fn describes_refusals_and_applications() {
        let refused = SubmitOutcome {
            brief: None,
            tx: Hash([1; 32]),
            status: SubmitStatus::Final,
            receipt: Some(Receipt {
                tx: Hash([1; 32]),
                height: 12,
                index: 0,
                outcome: Outcome::Refused {
                    code: "already_spent".into(),
                    message: "coupon x is used up".into(),
                },
            }),
            error: None,
        };
        let (line, v) = describe(&refused, Some(1000));
        assert_eq!(
            line,
            "final at height 12: REFUSED already_spent: coupon x is used up"
        );
        assert!(matches!(v, Verdict::Failed(_)));
        assert!(finish(&[Verdict::Applied, v]).is_err());
        let accepted = SubmitOutcome {
            brief: None,
            tx: Hash([1; 32]),
            status: SubmitStatus::Accepted,
            receipt: None,
            error: None,
        };
        assert_eq!(describe(&accepted, None).1, Verdict::Submitted);
        assert!(finish(&[Verdict::Applied, Verdict::Submitted]).is_ok());
    }
}
