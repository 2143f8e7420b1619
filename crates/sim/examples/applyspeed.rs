fn main() {
    let rec = sim::replay::Recording::load(std::path::Path::new(
        "fixtures/asterisk/22.10.1/load_mix.ami",
    ))
    .unwrap();
    let plan = sim::Plan::default();
    let t = std::time::Instant::now();
    let mut n = 0;
    for _ in 0..5 {
        let mut st = sim::state::State::new(&plan, 0);
        for it in &rec.items {
            st.apply(&it.msg);
            n += 1;
        }
    }
    println!(
        "apply: {:.0} events/s",
        n as f64 / t.elapsed().as_secs_f64()
    );
}
