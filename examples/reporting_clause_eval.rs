//! The reporting clause after a quotation over several sentences (`„… Wir machen weiter“, sagte
//! Kerry.`): translated together with the last quoted sentence, or on its own? Prints, for the
//! fixture models, how often the word alignment separates the quoted words from the clause's
//! (together, the closing mark kept out of the model and placed by alignment) and how often the
//! model writes a mark back when it sees half a quotation. On its own the mark is exact by
//! construction. See the README, "Quotations in English".
//!
//! Run: `cargo run --release --example reporting_clause_eval`

use de2en::engine::Engine;
use de2en::engine::marian::{EngineSettings, MarianEngine};
fn main() {
    let cases = [
        ("Die Kritik kommt zu spät", "sagte die SPD-Politikerin."),
        (
            "Niemand weiß es!",
            "schrieb eine Lehrerin auf der Plattform X.",
        ),
        (
            "Außerdem ist klar, dass wir die Bewegungsfreiheit dieser Leute über Grenzen hinweg einschränken müssen",
            "sagte Kerry.",
        ),
        ("Die meisten Menschen merken davon noch nichts", "sagt sie."),
        ("Wir machen weiter", "sagte Kerry."),
        ("Wir gehen nach Hause", "sagte er."),
        ("Wir warten!", "rief sie."),
        ("Jetzt muss etwas passieren", "sagte der Bürgermeister."),
        ("Sie wird es bereuen", "sagte die Fraktionschefin."),
        (
            "Das Gesetz ist handwerklich schlecht gemacht",
            "erklärte ein Sprecher der CDU.",
        ),
        (
            "Die Schulen brauchen mindestens ein Jahr Vorlauf",
            "forderte die Gewerkschaft.",
        ),
        ("Mehr können wir derzeit nicht sagen", "so der Sprecher."),
    ];
    for model in ["tiny-swish", "tiny-gelu"] {
        let dir = std::path::Path::new("tests/fixtures/models").join(model);
        let engine = MarianEngine::load(
            &dir,
            &EngineSettings {
                alignment: true,
                ..EngineSettings::default()
            },
        )
        .unwrap();
        let mut consistent = 0;
        let mut kept_mark = 0;
        for (q, c) in cases {
            // Together, without the mark: where would alignment put it?
            let input = format!("{}, {c}", q.trim_end_matches(['!', '?']));
            let t = &engine.translate(&[&input]).unwrap()[0];
            let boundary = q.len();
            let Some(al) = &t.alignment else { continue };
            let q_targets: Vec<_> = al
                .pairs
                .iter()
                .filter(|(s, _)| s.end <= boundary)
                .map(|(_, t)| t.end)
                .collect();
            let c_targets: Vec<_> = al
                .pairs
                .iter()
                .filter(|(s, _)| s.start > boundary)
                .map(|(_, t)| t.start)
                .collect();
            let ok = match (q_targets.iter().max(), c_targets.iter().min()) {
                (Some(a), Some(b)) => a <= b,
                _ => false,
            };
            consistent += ok as usize;
            // Together, with the closing mark the model sees (half a quotation).
            let with_mark = format!("{q}“, {c}");
            let t2 = &engine.translate(&[&with_mark]).unwrap()[0];
            kept_mark += t2.text.contains(['”', '“', '"']) as usize;
            println!("{model}: {ok} | {} | {}", t.text, t2.text);
        }
        println!(
            "{model}: together without mark: alignment separates quote and clause in {consistent}/{}; with the mark in the input the model writes a mark in {kept_mark}/{}",
            cases.len(),
            cases.len()
        );
    }
}
