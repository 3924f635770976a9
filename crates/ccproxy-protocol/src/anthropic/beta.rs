//! The `anthropic-beta` header: the betas a subscription token needs, merged into the client's.

/// Betas upstream requires for OAuth tokens, in the order they are appended: without
/// `oauth-2025-04-20` it answers 401 "OAuth authentication is currently not supported."
pub const REQUIRED_BETAS: [&str; 2] = ["claude-code-20250219", "oauth-2025-04-20"];

/// Merges the client's beta values (each may be a comma-separated list, from one or several
/// headers) with [`REQUIRED_BETAS`]: the client's first, in order, then the missing required
/// ones; empty entries and duplicates are dropped.
pub fn merge_betas<'a>(client: impl IntoIterator<Item = &'a str>) -> String {
    let mut seen: Vec<&str> = Vec::with_capacity(8);
    for value in client {
        for beta in value.split(',').map(str::trim).filter(|b| !b.is_empty()) {
            if !seen.contains(&beta) {
                seen.push(beta);
            }
        }
    }
    for beta in REQUIRED_BETAS {
        if !seen.contains(&beta) {
            seen.push(beta);
        }
    }
    seen.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_betas_are_added_when_absent() {
        assert_eq!(merge_betas([]), "claude-code-20250219,oauth-2025-04-20");
    }

    #[test]
    fn client_order_is_kept_and_duplicates_dropped() {
        assert_eq!(
            merge_betas([
                "fine-grained-tool-streaming-2025-05-14, oauth-2025-04-20,,x",
                "x,y"
            ]),
            "fine-grained-tool-streaming-2025-05-14,oauth-2025-04-20,x,y,claude-code-20250219"
        );
    }
}
