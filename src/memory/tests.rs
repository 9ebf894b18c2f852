use super::*;
use crate::engine::{TranslationFlag, WordAlignment};
use crate::span::ByteSpan;

fn translation(text: &str, score: f32) -> Translation {
    Translation {
        text: text.to_owned(),
        token_ids: vec![5, 17, 0],
        sum_logprob: score * 3.0,
        mean_logprob: score,
        alignment: Some(WordAlignment {
            pairs: vec![(ByteSpan::new(0, 3), ByteSpan::new(0, 4))],
        }),
        reached_length_limit: true,
        flags: vec![TranslationFlag::NumberLost, TranslationFlag::Retried],
    }
}

fn open(path: &Path, context: &str) -> TranslationMemory {
    TranslationMemory::open(path, context, DEFAULT_MAX_BYTES).unwrap()
}

#[test]
fn a_translation_comes_back_whole_under_its_context_and_extra_only() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("sub/memory.sqlite3");
    let stored = translation("The council votes.", -0.123_456_79);
    let mut memory = open(&path, "ctx A");
    assert_eq!(memory.lookup("", "Der Rat stimmt ab.").unwrap(), None);
    memory.remember("", "Der Rat stimmt ab.", &stored);
    memory.commit().unwrap();
    drop(memory);

    let mut again = open(&path, "ctx A");
    assert_eq!(
        again.lookup("", "Der Rat stimmt ab.").unwrap(),
        Some(stored)
    );
    assert_eq!(
        again
            .lookup("glossary: Rat=board", "Der Rat stimmt ab.")
            .unwrap(),
        None
    );
    assert_eq!(again.lookup("", "Der Rat stimmt ab").unwrap(), None);
    let mut other = open(&path, "ctx B");
    assert_eq!(other.lookup("", "Der Rat stimmt ab.").unwrap(), None);
}

#[test]
fn scores_survive_the_json_value_bit_for_bit() {
    // A pseudo-random walk over f32 bit patterns, plus the awkward ones.
    let mut bits: u32 = 0x9E37_79B9;
    let mut values = vec![0.0f32, -0.0, f32::MIN_POSITIVE, f32::MAX, -1e-45, 1.0e-7];
    for _ in 0..200_000 {
        bits ^= bits << 13;
        bits ^= bits >> 17;
        bits ^= bits << 5;
        let value = f32::from_bits(bits);
        if value.is_finite() {
            values.push(value);
        }
    }
    for value in values {
        let t = StoredTranslation::from(&Translation {
            sum_logprob: value,
            mean_logprob: value,
            ..Translation::default()
        });
        let back: StoredTranslation =
            serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        assert_eq!(back.sum_logprob.to_bits(), value.to_bits(), "{value:e}");
    }
}

#[test]
fn no_alignment_and_an_empty_one_stay_apart() {
    let tmp = tempfile::tempdir().unwrap();
    let mut memory = open(&tmp.path().join("m.sqlite3"), "ctx");
    let none = Translation {
        text: "A.".into(),
        ..Translation::default()
    };
    let empty = Translation {
        alignment: Some(WordAlignment::default()),
        ..none.clone()
    };
    memory.remember("", "Eins.", &none);
    memory.remember("", "Zwei.", &empty);
    memory.commit().unwrap();
    assert_eq!(memory.lookup("", "Eins.").unwrap(), Some(none));
    assert_eq!(memory.lookup("", "Zwei.").unwrap(), Some(empty));
}

#[test]
fn random_bytes_and_foreign_databases_are_refused_and_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let garbage = tmp.path().join("garbage.sqlite3");
    let bytes: Vec<u8> = (0..10_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&garbage, &bytes).unwrap();
    let error = TranslationMemory::open(&garbage, "ctx", DEFAULT_MAX_BYTES)
        .err()
        .unwrap();
    assert!(matches!(error, MemoryError::Database { .. }), "{error:?}");
    assert_eq!(std::fs::read(&garbage).unwrap(), bytes);

    let foreign = tmp.path().join("foreign.sqlite3");
    Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE users (name TEXT);")
        .unwrap();
    let error = TranslationMemory::open(&foreign, "ctx", DEFAULT_MAX_BYTES)
        .err()
        .unwrap();
    assert!(matches!(error, MemoryError::Foreign { .. }), "{error:?}");
}

#[test]
fn the_least_recently_used_entries_go_when_over_the_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("memory.sqlite3");
    let limit = 256 * 1024;
    let mut memory = TranslationMemory::open(&path, "ctx", limit).unwrap();
    let long_text = "x".repeat(400);
    memory.remember("", "Satz 0", &translation(&long_text, -1.0));
    memory.commit().unwrap();
    for round in 0..20 {
        std::thread::sleep(Duration::from_millis(2));
        // Sentence 0 is used in every round: it must survive, older ones must not.
        assert!(
            memory.lookup("", "Satz 0").unwrap().is_some(),
            "round {round}"
        );
        for i in 0..100 {
            let source = format!("Satz {round}-{i}");
            memory.remember("", &source, &translation(&long_text, -1.0));
        }
        memory.commit().unwrap();
    }
    let stats = memory.stats().unwrap();
    assert!(stats.used_bytes <= limit, "{stats:?}");
    assert!(stats.entries > 100 && stats.entries < 2000, "{stats:?}");
    assert!(memory.lookup("", "Satz 0").unwrap().is_some());
    assert!(memory.lookup("", "Satz 0-0").unwrap().is_none());
    assert!(memory.lookup("", "Satz 19-99").unwrap().is_some());
}

#[test]
fn export_and_import_round_trip_and_a_bad_line_imports_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut memory = open(&tmp.path().join("a.sqlite3"), "ctx A");
    memory.remember("", "Eins.", &translation("One.", -0.5));
    memory.remember("g", "Zwei\tdrei.", &translation("Two\nthree.", -0.25));
    memory.commit().unwrap();
    let mut exported = Vec::new();
    assert_eq!(
        memory.export(&mut exported, ExportFormat::Jsonl).unwrap(),
        2
    );

    let mut copy = open(&tmp.path().join("b.sqlite3"), "ctx B");
    assert_eq!(copy.import(&mut &exported[..], "export.jsonl").unwrap(), 2);
    let mut again = Vec::new();
    copy.export(&mut again, ExportFormat::Jsonl).unwrap();
    assert_eq!(
        String::from_utf8(again).unwrap(),
        String::from_utf8(exported.clone()).unwrap()
    );
    let mut copy_a = open(&tmp.path().join("b.sqlite3"), "ctx A");
    assert_eq!(
        copy_a.lookup("g", "Zwei\tdrei.").unwrap(),
        Some(translation("Two\nthree.", -0.25))
    );

    let mut tsv = Vec::new();
    memory.export(&mut tsv, ExportFormat::Tsv).unwrap();
    assert_eq!(
        String::from_utf8(tsv).unwrap(),
        "german\tenglish\tscore\nEins.\tOne.\t-0.5\nZwei\\tdrei.\tTwo\\nthree.\t-0.25\n"
    );

    let mut broken = exported.clone();
    broken.extend_from_slice(b"{\"context\": 1}\n");
    let mut fresh = open(&tmp.path().join("c.sqlite3"), "ctx A");
    let error = fresh
        .import(&mut &broken[..], "broken.jsonl")
        .err()
        .unwrap();
    assert!(
        error.to_string().contains("broken.jsonl, line 3"),
        "{error}"
    );
    assert_eq!(fresh.stats().unwrap().entries, 0);
}

#[test]
fn clear_empties_the_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let mut memory = open(&tmp.path().join("m.sqlite3"), "ctx");
    memory.remember("", "Eins.", &translation("One.", -0.5));
    memory.commit().unwrap();
    assert_eq!(memory.clear().unwrap(), 1);
    assert_eq!(memory.lookup("", "Eins.").unwrap(), None);
    assert_eq!(memory.stats().unwrap().contexts, vec![]);
}

#[test]
fn sizes_take_k_m_g_suffixes() {
    assert_eq!(parse_size("2G"), Ok(2 << 30));
    assert_eq!(parse_size("500M"), Ok(500 << 20));
    assert_eq!(parse_size("64k"), Ok(64 << 10));
    assert_eq!(parse_size("1GiB"), Ok(1 << 30));
    assert_eq!(parse_size("4096"), Ok(4096));
    assert!(parse_size("lots").is_err());
    assert!(parse_size("-1G").is_err());
    assert!(parse_size("99999999999G").is_err());
}
