//! What a request cost at API list prices: an embedded price table for Claude models, which a
//! user file can override or extend (`observability.pricing_file`).

use ccproxy_protocol::anthropic::usage::Usage;
use serde::Deserialize;
use std::path::Path;

/// When the embedded prices were taken from Anthropic's pricing page.
pub const PRICES_TAKEN: &str = "2025-11-24";

/// USD per million tokens.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Price {
    /// Model ids starting with this use this price (the longest matching prefix wins).
    pub prefix: String,
    pub input: f64,
    pub output: f64,
    pub cache_write_5m: f64,
    pub cache_write_1h: f64,
    pub cache_read: f64,
}

const fn p(prefix: &'static str, input: f64, output: f64) -> (&'static str, f64, f64) {
    (prefix, input, output)
}

/// (prefix, input, output); cache writes are 1.25× (5 min) and 2× (1 h) input, reads 0.1×.
const EMBEDDED: [(&str, f64, f64); 12] = [
    p("claude-opus-4-5", 5.0, 25.0),
    p("claude-opus-4-1", 15.0, 75.0),
    p("claude-opus-4", 15.0, 75.0),
    p("claude-sonnet-4-5", 3.0, 15.0),
    p("claude-sonnet-4", 3.0, 15.0),
    p("claude-3-7-sonnet", 3.0, 15.0),
    p("claude-3-5-sonnet", 3.0, 15.0),
    p("claude-haiku-4-5", 1.0, 5.0),
    p("claude-3-5-haiku", 0.8, 4.0),
    p("claude-3-opus", 15.0, 75.0),
    p("claude-3-haiku", 0.25, 1.25),
    p("claude-3-sonnet", 3.0, 15.0),
];

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    models: Vec<Price>,
}

/// The price table in use.
#[derive(Debug, Clone)]
pub struct Pricing {
    prices: Vec<Price>,
}

impl Default for Pricing {
    fn default() -> Self {
        Self {
            prices: EMBEDDED
                .iter()
                .map(|(prefix, input, output)| Price {
                    prefix: (*prefix).into(),
                    input: *input,
                    output: *output,
                    cache_write_5m: input * 1.25,
                    cache_write_1h: input * 2.0,
                    cache_read: input * 0.1,
                })
                .collect(),
        }
    }
}

/// Why the pricing file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PricingError {
    #[error("pricing file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("pricing file {path}: {source}")]
    Parse {
        path: String,
        source: Box<figment::Error>,
    },
}

impl Pricing {
    /// The embedded table, with the entries of `file` (TOML `[[models]]` with `prefix`, `input`,
    /// `output`, `cache_write_5m`, `cache_write_1h`, `cache_read`) taking precedence.
    pub fn load(file: Option<&Path>) -> Result<Self, PricingError> {
        let mut pricing = Self::default();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| PricingError::Read {
                path: path.display().to_string(),
                source,
            })?;
            use figment::providers::Format;
            let file: File = figment::Figment::from(figment::providers::Toml::string(&text))
                .extract()
                .map_err(|source| PricingError::Parse {
                    path: path.display().to_string(),
                    source: Box::new(source),
                })?;
            let mut prices = file.models;
            prices.extend(pricing.prices);
            pricing.prices = prices;
        }
        Ok(pricing)
    }

    /// The price of `model`: the longest prefix that matches (user entries first on a tie).
    pub fn price(&self, model: &str) -> Option<&Price> {
        self.prices
            .iter()
            .filter(|p| model.starts_with(&p.prefix))
            .fold(None, |best: Option<&Price>, p| match best {
                Some(b) if b.prefix.len() >= p.prefix.len() => Some(b),
                _ => Some(p),
            })
    }

    /// The cost of `usage` with `model`'s price, in USD.
    pub fn cost(&self, model: &str, usage: &Usage) -> Option<f64> {
        let p = self.price(model)?;
        let m = 1_000_000.0;
        Some(
            usage.input_tokens as f64 * p.input / m
                + usage.output_tokens as f64 * p.output / m
                + usage.cache_read_tokens as f64 * p.cache_read / m
                + usage.cache_write_5m_tokens as f64 * p.cache_write_5m / m
                + usage.cache_write_1h_tokens as f64 * p.cache_write_1h / m,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_use_the_longest_prefix() {
        let pricing = Pricing::default();
        assert_eq!(
            pricing.price("claude-opus-4-5-20251101").unwrap().input,
            5.0
        );
        assert_eq!(pricing.price("claude-opus-4-20250514").unwrap().input, 15.0);
        assert!(pricing.price("gpt-4o").is_none());
        let usage = Usage {
            input_tokens: 1_000_000,
            output_tokens: 100_000,
            cache_read_tokens: 1_000_000,
            cache_write_5m_tokens: 1_000_000,
            cache_write_1h_tokens: 0,
            model: None,
        };
        let cost = pricing.cost("claude-sonnet-4-20250514", &usage).unwrap();
        assert!((cost - (3.0 + 1.5 + 0.3 + 3.75)).abs() < 1e-9, "{cost}");
    }

    #[test]
    fn a_user_file_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prices.toml");
        std::fs::write(&path, "[[models]]\nprefix = \"claude-sonnet-4\"\ninput = 1.0\noutput = 2.0\ncache_write_5m = 0.0\ncache_write_1h = 0.0\ncache_read = 0.0\n").unwrap();
        let pricing = Pricing::load(Some(&path)).unwrap();
        assert_eq!(
            pricing.price("claude-sonnet-4-20250514").unwrap().input,
            1.0
        );
        assert_eq!(pricing.price("claude-opus-4-20250514").unwrap().input, 15.0);
        assert!(Pricing::load(Some(&dir.path().join("none.toml"))).is_err());
    }
}
