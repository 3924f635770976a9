//! Runs the mock Anthropic upstream by hand: `cargo run -p ccproxy-mock-upstream`.
//! Prints its URL, then serves until Ctrl-C. Requests are not recorded.

#[tokio::main]
async fn main() {
    let mock = ccproxy_mock_upstream::Mock::start_with(false).await;
    println!("{}", mock.url());
    let _ = tokio::signal::ctrl_c().await;
}
