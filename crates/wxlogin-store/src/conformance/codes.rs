//! Used login codes.

use std::sync::Arc;

use super::{APP, Expect as _, T0, at, check};
use crate::model::CodeHash;
use crate::traits::Store;

/// The first claim of (appid, code) wins, later ones lose until the record expires; other
/// codes and other apps are independent.
pub async fn claim_login_code_first_wins_and_expired_is_reclaimable(store: Arc<dyn Store>) {
    let code = CodeHash::of("081abcDEF");
    let expires = at(300);
    check!(
        store
            .claim_login_code(APP, &code, expires, T0)
            .await
            .or_fail("claim"),
        "the first claim lost"
    );
    check!(
        !store
            .claim_login_code(APP, &code, at(301), at(1))
            .await
            .or_fail("claim"),
        "a second claim of the same code won"
    );
    check!(
        !store
            .claim_login_code(APP, &code, at(599), at(299))
            .await
            .or_fail("claim"),
        "a claim just before expiry won"
    );
    check!(
        store
            .claim_login_code("wx0000000000000002", &code, expires, T0)
            .await
            .or_fail("claim"),
        "the same code under another app lost"
    );
    check!(
        store
            .claim_login_code(APP, &CodeHash::of("081abcdef"), expires, T0)
            .await
            .or_fail("claim"),
        "a different code (case differs) lost"
    );
    // Expired at `now` (expires_at <= now): counts as absent and is taken over, once.
    check!(
        store
            .claim_login_code(APP, &code, at(600), at(300))
            .await
            .or_fail("claim"),
        "an expired record was not reclaimable"
    );
    check!(
        !store
            .claim_login_code(APP, &code, at(601), at(301))
            .await
            .or_fail("claim"),
        "a reclaimed record was claimable again before its new expiry"
    );
}
