//! The image pipeline against the real corpus in ../shared/corpus (sharp fixtures, shadcn/ui
//! screenshots, lucide icons, bombs and corrupt files).

use std::path::PathBuf;

use image::{DynamicImage, GenericImageView};
use img_parts::{ImageEXIF, jpeg::Jpeg, png::Png};
use s3_upload_mcp::imaging::{ImageKind, Limits, OutputFormat, ProcessOptions, Processed, process};

fn corpus(rel: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus")).join(rel)
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(corpus(rel)).unwrap_or_else(|e| panic!("corpus file {rel}: {e}"))
}

fn opts(format: OutputFormat) -> ProcessOptions {
    ProcessOptions {
        format,
        ..Default::default()
    }
}

fn no_resize(format: OutputFormat) -> ProcessOptions {
    ProcessOptions {
        format,
        max_width: 0,
        max_height: 0,
        ..Default::default()
    }
}

fn run(rel: &str, o: &ProcessOptions) -> Processed {
    process(&read(rel), o).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn decode(p: &Processed) -> DynamicImage {
    image::load_from_memory(&p.bytes).expect("output decodes")
}

/// Mean absolute difference per channel (0–255) between two same-sized RGB images.
fn mean_abs_diff(a: &DynamicImage, b: &DynamicImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions(), "dimensions differ");
    let (a, b) = (a.to_rgb8(), b.to_rgb8());
    let sum: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    sum as f64 / a.as_raw().len() as f64
}

fn raster_corpus() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(corpus("images"))
        .expect("corpus directory")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".svg") && !n.ends_with(".avif"))
        .collect();
    names.sort();
    assert!(names.len() >= 30, "corpus looks incomplete: {names:?}");
    names
}

#[test]
fn every_raster_file_in_the_corpus_processes_to_a_valid_output_within_the_box() {
    for name in raster_corpus() {
        let p = run(&format!("images/{name}"), &opts(OutputFormat::Auto));
        assert!(
            p.width <= 1920 && p.height <= 1080,
            "{name}: {}×{}",
            p.width,
            p.height
        );
        assert!(!p.bytes.is_empty());
        let out = decode(&p);
        assert_eq!(out.dimensions(), (p.width, p.height), "{name}");
        assert_eq!(
            s3_upload_mcp::imaging::sniff(&p.bytes).unwrap(),
            p.kind,
            "{name}"
        );
    }
}

#[test]
fn every_raster_file_converts_to_forced_webp() {
    for name in raster_corpus() {
        let p = run(&format!("images/{name}"), &opts(OutputFormat::Webp));
        assert_eq!(p.kind, ImageKind::Webp, "{name}");
        assert_eq!(decode(&p).dimensions(), (p.width, p.height), "{name}");
    }
}

#[test]
fn exif_orientation_landscape_cases_match_the_upright_reference() {
    let reference = decode(&run(
        "images/Landscape_1.jpg",
        &no_resize(OutputFormat::Png),
    ));
    assert!(reference.width() > reference.height());
    for n in [3, 5, 6, 8] {
        let p = run(
            &format!("images/Landscape_{n}.jpg"),
            &no_resize(OutputFormat::Png),
        );
        assert!(p.orientation_applied, "Landscape_{n}");
        let diff = mean_abs_diff(&decode(&p), &reference);
        assert!(
            diff < 12.0,
            "Landscape_{n} differs from upright by {diff:.1}"
        );
    }
}

#[test]
fn exif_orientation_6_portrait_comes_out_upright() {
    // No Portrait_1 in the corpus: orientations 2 (mirror), 6 (rotate) and 7 (transpose) are
    // different transforms of one picture, so they agree only if each is applied correctly.
    let p2 = decode(&run("images/Portrait_2.jpg", &no_resize(OutputFormat::Png)));
    let p6 = decode(&run("images/Portrait_6.jpg", &no_resize(OutputFormat::Png)));
    let p7 = decode(&run("images/Portrait_7.jpg", &no_resize(OutputFormat::Png)));
    assert!(p6.height() > p6.width(), "portrait stays portrait");
    assert!(mean_abs_diff(&p6, &p2) < 12.0);
    assert!(mean_abs_diff(&p7, &p2) < 12.0);
}

#[test]
fn orientation_check_would_catch_an_unrotated_image() {
    // Guards the threshold above: the same picture mirrored is far from the reference.
    let reference = decode(&run(
        "images/Landscape_1.jpg",
        &no_resize(OutputFormat::Png),
    ));
    assert!(mean_abs_diff(&reference.fliph(), &reference) > 20.0);
}

#[test]
fn orientation_is_applied_before_fitting_the_box() {
    // Portrait_6 is stored landscape; upright it is portrait and must fit 1080 in height.
    let p = run(
        "images/Portrait_6.jpg",
        &ProcessOptions {
            max_width: 300,
            max_height: 300,
            ..opts(OutputFormat::Webp)
        },
    );
    assert!(p.height == 300 && p.width < 300, "{}×{}", p.width, p.height);
}

#[test]
fn giant_jpeg_is_refused_from_its_header_with_the_numbers_and_the_fix() {
    let err = process(&read("bad/giant-image.jpg"), &opts(OutputFormat::Auto)).unwrap_err();
    assert_eq!(err.kind(), "too_many_pixels");
    let msg = err.to_string();
    assert!(msg.contains("20000×14000"), "{msg}");
    assert!(
        msg.contains("280.0 MP") && msg.contains("MAX_PIXELS"),
        "{msg}"
    );
}

#[test]
fn png_of_65536_squared_pixels_is_refused_before_allocating() {
    let err = process(
        &read("bad/65536-uint32-limit.png"),
        &opts(OutputFormat::Auto),
    )
    .unwrap_err();
    assert_eq!(err.kind(), "too_many_pixels");
    assert!(err.to_string().contains("65536×65536"), "{err}");
}

#[test]
fn truncated_and_corrupt_files_give_corrupt_image_errors() {
    for name in ["truncated.jpg", "truncated.png", "corrupt-header.jpg"] {
        let err =
            process(&read(&format!("bad/{name}")), &opts(OutputFormat::Auto)).expect_err(name);
        assert_eq!(err.kind(), "corrupt_image", "{name}: {err}");
        assert!(err.to_string().contains("upload it again"), "{name}: {err}");
    }
}

#[test]
fn every_prefix_of_a_jpeg_and_png_fails_cleanly_without_panicking() {
    for name in ["images/320x240.jpg", "images/with-alpha.png"] {
        let data = read(name);
        for len in (0..data.len()).step_by(data.len() / 40) {
            assert!(
                process(&data[..len], &opts(OutputFormat::Auto)).is_err(),
                "{name}[..{len}]"
            );
        }
    }
}

#[test]
fn avif_input_gets_a_convert_first_error() {
    let err = process(&read("images/pitm.avif"), &opts(OutputFormat::Auto)).unwrap_err();
    assert_eq!(err.kind(), "unsupported_format");
    assert!(
        err.to_string().contains("convert it to PNG, JPEG or WebP"),
        "{err}"
    );
}

#[test]
fn pixel_limit_comes_from_the_options() {
    let o = ProcessOptions {
        limits: Limits {
            max_pixels: 1000,
            ..Default::default()
        },
        ..Default::default()
    };
    let err = process(&read("images/320x240.jpg"), &o).unwrap_err();
    assert_eq!(err.kind(), "too_many_pixels");
    assert!(err.to_string().contains("320×240"), "{err}");
}

/// A little-endian EXIF blob: ImageDescription "GPS-CANARY" and a GPS IFD (latitude ref N).
fn exif_with_gps() -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(b"II*\0");
    t.extend_from_slice(&8u32.to_le_bytes());
    // IFD0 at 8: two entries.
    t.extend_from_slice(&2u16.to_le_bytes());
    let desc = b"GPS-CANARY\0";
    t.extend_from_slice(&0x010Eu16.to_le_bytes()); // ImageDescription
    t.extend_from_slice(&2u16.to_le_bytes()); // ASCII
    t.extend_from_slice(&(desc.len() as u32).to_le_bytes());
    t.extend_from_slice(&56u32.to_le_bytes());
    t.extend_from_slice(&0x8825u16.to_le_bytes()); // GPSInfo
    t.extend_from_slice(&4u16.to_le_bytes()); // LONG
    t.extend_from_slice(&1u32.to_le_bytes());
    t.extend_from_slice(&38u32.to_le_bytes());
    t.extend_from_slice(&0u32.to_le_bytes());
    // GPS IFD at 38: GPSLatitudeRef = "N".
    t.extend_from_slice(&1u16.to_le_bytes());
    t.extend_from_slice(&1u16.to_le_bytes());
    t.extend_from_slice(&2u16.to_le_bytes());
    t.extend_from_slice(&2u32.to_le_bytes());
    t.extend_from_slice(b"N\0\0\0");
    t.extend_from_slice(&0u32.to_le_bytes());
    assert_eq!(t.len(), 56);
    t.extend_from_slice(desc);
    t
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn gps_exif_is_gone_from_original_and_webp_outputs() {
    let mut jpeg = Jpeg::from_bytes(read("images/Landscape_1.jpg").into()).unwrap();
    jpeg.set_exif(Some(exif_with_gps().into()));
    let tagged = jpeg.encoder().bytes().to_vec();
    assert!(contains(&tagged, b"GPS-CANARY"));

    let orig = process(&tagged, &no_resize(OutputFormat::Original)).unwrap();
    assert_eq!(orig.encoder, "original-stripped");
    assert_eq!(orig.kind, ImageKind::Jpeg);
    assert!(!contains(&orig.bytes, b"GPS-CANARY"));
    assert!(
        Jpeg::from_bytes(orig.bytes.clone().into())
            .unwrap()
            .exif()
            .is_none()
    );

    let webp = process(&tagged, &opts(OutputFormat::Webp)).unwrap();
    assert!(!contains(&webp.bytes, b"GPS-CANARY"));
    assert!(!contains(&webp.bytes, b"EXIF"));

    let mut png = Png::from_bytes(read("images/with-alpha.png").into()).unwrap();
    png.set_exif(Some(exif_with_gps().into()));
    let tagged = png.encoder().bytes().to_vec();
    let orig = process(&tagged, &no_resize(OutputFormat::Original)).unwrap();
    assert!(!contains(&orig.bytes, b"GPS-CANARY"));
    assert!(Png::from_bytes(orig.bytes.into()).unwrap().exif().is_none());
}

#[test]
fn original_format_keeps_the_pixels_when_nothing_changes() {
    let input = read("images/with-alpha.png");
    let p = process(&input, &no_resize(OutputFormat::Original)).unwrap();
    assert_eq!(p.kind, ImageKind::Png);
    let a = image::load_from_memory(&input).unwrap();
    assert_eq!(decode(&p).to_rgba8(), a.to_rgba8());
}

#[test]
fn never_grow_keeps_the_stripped_palette_screenshot_when_webp_is_larger() {
    for name in [
        "ui-cards-light.png",
        "ui-dashboard-dark.png",
        "ui-tasks-dark.png",
    ] {
        let input = read(&format!("images/{name}"));
        let p = process(&input, &no_resize(OutputFormat::Auto)).unwrap();
        assert!(!p.resized);
        assert!(
            p.bytes.len() <= input.len(),
            "{name}: {} > {}",
            p.bytes.len(),
            input.len()
        );
        // And it never lost to lossy WebP: whatever was kept is no bigger.
        let lossy = process(&input, &no_resize(OutputFormat::Webp)).unwrap();
        assert!(p.bytes.len() <= lossy.bytes.len(), "{name}");
    }
}

#[test]
fn flat_screenshots_try_lossless_webp_when_resized() {
    let p = run("images/ui-dashboard-light.png", &opts(OutputFormat::Auto));
    assert!(p.resized);
    let lossy = run("images/ui-dashboard-light.png", &opts(OutputFormat::Webp));
    assert!(p.bytes.len() <= lossy.bytes.len());
    assert!(p.encoder.starts_with("libwebp"), "{}", p.encoder);
}

#[test]
fn large_photo_is_resized_into_the_default_box() {
    let p = run("images/gain-map.jpg", &opts(OutputFormat::Auto));
    assert_eq!((p.width, p.height), (1920, 1080));
    assert!(p.resized);
    assert_eq!(p.kind, ImageKind::Webp);
    assert_eq!(p.encoder, "libwebp-lossy");
    assert!(p.bytes.len() < p.original_bytes);
}

#[test]
fn variants_have_the_asked_widths_and_none_is_as_wide_as_the_main_image() {
    let o = ProcessOptions {
        widths: vec![640, 320, 5000],
        ..opts(OutputFormat::Webp)
    };
    let p = run("images/flowers.jpeg", &o);
    let src = image::load_from_memory(&read("images/flowers.jpeg")).unwrap();
    assert_eq!(p.width, src.width());
    // 5000 would be the main image again: not rendered (publish stores only narrower ones).
    let widths: Vec<u32> = p.variants.iter().map(|v| v.width).collect();
    assert_eq!(widths, vec![320, 640]);
    for v in &p.variants {
        let img = image::load_from_memory(&v.bytes).unwrap();
        assert_eq!((img.width(), img.height()), (v.width, v.height));
        assert_eq!(s3_upload_mcp::imaging::sniff(&v.bytes).unwrap(), p.kind);
        let ratio = f64::from(v.width) / f64::from(v.height);
        let src_ratio = f64::from(src.width()) / f64::from(src.height());
        assert!((ratio - src_ratio).abs() < 0.02);
    }
}

#[test]
fn cmyk_jpeg_is_converted_to_plausible_rgb() {
    let p = run(
        "images/Channel_digital_image_CMYK_color.jpg",
        &opts(OutputFormat::Png),
    );
    let img = decode(&p).to_rgb8();
    // The picture is a colourful photo: not inverted (mostly dark) and not grey.
    let n = img.pixels().len() as f64;
    let mean: f64 = img
        .pixels()
        .map(|p| p.0.iter().map(|&c| f64::from(c)).sum::<f64>() / 3.0)
        .sum::<f64>()
        / n;
    let chroma: f64 = img
        .pixels()
        .map(|p| f64::from(*p.0.iter().max().unwrap() - *p.0.iter().min().unwrap()))
        .sum::<f64>()
        / n;
    assert!(mean > 60.0 && mean < 220.0, "mean {mean:.0}");
    assert!(chroma > 20.0, "chroma {chroma:.0}");
}

#[test]
fn display_p3_png_is_converted_to_srgb() {
    let input = read("images/p3.png");
    let p = process(&input, &no_resize(OutputFormat::Png)).unwrap();
    let before = image::load_from_memory(&input).unwrap().to_rgba8();
    let after = decode(&p).to_rgba8();
    assert_ne!(before, after, "P3 pixels must be converted, not copied");
}

#[test]
fn animated_gif_stays_animated_as_webp() {
    let p = run("images/rotating-squares.gif", &opts(OutputFormat::Webp));
    assert_eq!(p.kind, ImageKind::Webp);
    assert!(p.frames > 1);
    let dec = image::codecs::webp::WebPDecoder::new(std::io::Cursor::new(&p.bytes)).unwrap();
    assert!(dec.has_animation());
    // 30 frames of 30 ms: libwebp may merge identical frames but the loop still lasts 900 ms.
    assert_eq!(total_duration_ms(&p.bytes, p.kind), 900);
}

#[test]
fn animated_webp_keeps_every_frame_duration_including_the_last() {
    let input = read("images/animated-loop-3.webp");
    let p = process(&input, &opts(OutputFormat::Webp)).unwrap();
    assert_eq!(p.encoder, "libwebp-anim");
    assert_eq!(
        total_duration_ms(&p.bytes, ImageKind::Webp),
        total_duration_ms(&input, ImageKind::Webp)
    );
}

fn total_duration_ms(bytes: &[u8], kind: ImageKind) -> u32 {
    use image::AnimationDecoder;
    let c = std::io::Cursor::new(bytes);
    let frames: Vec<image::Frame> = match kind {
        ImageKind::Gif => image::codecs::gif::GifDecoder::new(c)
            .unwrap()
            .into_frames()
            .collect_frames(),
        _ => image::codecs::webp::WebPDecoder::new(c)
            .unwrap()
            .into_frames()
            .collect_frames(),
    }
    .unwrap();
    frames
        .iter()
        .map(|f| {
            let (n, d) = f.delay().numer_denom_ms();
            n / d
        })
        .sum()
}

#[test]
fn animated_inputs_are_never_flattened_by_auto_or_original() {
    for name in ["rotating-squares.gif", "animated-loop-3.webp"] {
        for f in [OutputFormat::Auto, OutputFormat::Original] {
            let p = run(&format!("images/{name}"), &opts(f));
            assert!(p.frames > 1, "{name} {f}");
            let n = frame_count(&p.bytes, p.kind);
            assert!(n > 1, "{name} {f}: output has {n} frame");
        }
    }
}

fn frame_count(bytes: &[u8], kind: ImageKind) -> u32 {
    use image::AnimationDecoder;
    let c = std::io::Cursor::new(bytes);
    match kind {
        ImageKind::Gif => image::codecs::gif::GifDecoder::new(c)
            .unwrap()
            .into_frames()
            .count() as u32,
        ImageKind::Webp => image::codecs::webp::WebPDecoder::new(c)
            .unwrap()
            .into_frames()
            .count() as u32,
        k => panic!("unexpected {k}"),
    }
}

#[test]
fn animated_gif_resized_as_original_stays_an_animated_gif() {
    let o = ProcessOptions {
        max_width: 40,
        ..opts(OutputFormat::Original)
    };
    let p = run("images/rotating-squares.gif", &o);
    assert_eq!((p.kind, p.width, p.height), (ImageKind::Gif, 40, 40));
    assert_eq!(frame_count(&p.bytes, p.kind), 30);
    assert_eq!(total_duration_ms(&p.bytes, p.kind), 900);
}

#[test]
fn animated_input_to_png_is_refused_instead_of_flattened() {
    let err = process(
        &read("images/rotating-squares.gif"),
        &opts(OutputFormat::Png),
    )
    .unwrap_err();
    assert_eq!(err.kind(), "invalid_parameter");
    assert!(err.to_string().contains("animated"));
}

fn svg(s: &str) -> String {
    let p = process(s.as_bytes(), &opts(OutputFormat::Auto)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.kind, ImageKind::Svg);
    assert_eq!(p.encoder, "svg-sanitized");
    String::from_utf8(p.bytes).unwrap()
}

#[test]
fn svg_script_onload_onclick_and_javascript_urls_are_neutralised() {
    let out = svg(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10" onload="alert(1)">
        <script type="text/javascript">alert(document.cookie)</script>
        <a href="javascript:alert(2)"><rect width="10" height="10" onclick="alert(3)"/></a></svg>"#,
    );
    let lower = out.to_ascii_lowercase();
    for bad in ["<script", "alert", "onload", "onclick", "javascript:"] {
        assert!(!lower.contains(bad), "{bad} in {out}");
    }
    assert!(out.contains("<rect"), "{out}");
}

#[test]
fn svg_external_href_and_foreign_object_are_removed() {
    let out = svg(
        r#"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="10" height="10">
        <image xlink:href="https://tracker.example/pixel.png" width="1" height="1"/>
        <image href="file:///etc/passwd" width="1" height="1"/>
        <use href="http://evil.example/sprite.svg#icon"/>
        <foreignObject width="10" height="10"><iframe xmlns="http://www.w3.org/1999/xhtml" src="https://evil.example"/></foreignObject>
        <circle cx="5" cy="5" r="4"/></svg>"#,
    );
    for bad in ["tracker", "file:", "evil", "foreignObject", "iframe"] {
        assert!(!out.contains(bad), "{bad} in {out}");
    }
    assert!(out.contains("<circle"));
}

#[test]
fn svg_entity_expansion_bomb_is_refused() {
    let bomb = r#"<?xml version="1.0"?><!DOCTYPE svg [
      <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
      <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
      <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
      <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
      <!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
    ]><svg xmlns="http://www.w3.org/2000/svg"><text>&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;</text></svg>"#;
    let err = process(bomb.as_bytes(), &opts(OutputFormat::Auto)).unwrap_err();
    assert_eq!(err.kind(), "svg_refused", "{err}");
}

#[test]
fn svg_external_entity_is_not_resolved_and_doctype_is_dropped() {
    let xxe = r#"<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>
        <svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><text>&x;</text></svg>"#;
    match process(xxe.as_bytes(), &opts(OutputFormat::Auto)) {
        Ok(p) => {
            let out = String::from_utf8(p.bytes).unwrap();
            assert!(
                !out.contains("root:") && !out.contains("DOCTYPE") && !out.contains("ENTITY"),
                "{out}"
            );
        }
        Err(e) => assert_eq!(e.kind(), "svg_refused"),
    }
}

#[test]
fn lucide_icons_survive_sanitizing_with_their_paths() {
    for name in [
        "lucide-anchor.svg",
        "lucide-aperture.svg",
        "check.svg",
        "circle.svg",
    ] {
        let input = String::from_utf8(read(&format!("images/{name}"))).unwrap();
        let out = svg(&input);
        for tag in ["<path", "<circle", "<line", "<rect", "<polyline"] {
            assert_eq!(
                input.matches(tag).count(),
                out.matches(tag).count(),
                "{name}: {tag} count changed\n{out}"
            );
        }
        let doc = roxmltree::Document::parse(&out).expect("output is XML");
        assert_eq!(doc.root_element().tag_name().name(), "svg");
    }
}

#[test]
fn svg_rasterizes_to_webp_or_png_at_the_requested_width() {
    // struct-image-04-t.svg is 480×360 (its viewBox; width and height are 100%).
    let o = ProcessOptions {
        rasterize: true,
        format: OutputFormat::Png,
        widths: vec![96, 480, 960],
        ..Default::default()
    };
    let p = run("images/struct-image-04-t.svg", &o);
    assert_eq!(p.kind, ImageKind::Png);
    let img = decode(&p);
    assert_eq!(img.dimensions(), (p.width, p.height));
    // 480 and 960 would be the main image again (or wider): never rendered.
    assert_eq!(
        p.variants.len(),
        1,
        "{:?}",
        p.variants.iter().map(|v| v.width).collect::<Vec<_>>()
    );
    let v = image::load_from_memory(&p.variants[0].bytes).unwrap();
    assert_eq!(v.width(), 96);
    // Something was drawn.
    assert!(v.to_rgba8().pixels().any(|px| px[3] > 0));
    let o = ProcessOptions {
        rasterize: true,
        ..Default::default()
    };
    assert_eq!(
        run("images/struct-image-04-t.svg", &o).kind,
        ImageKind::Webp
    );
}

#[test]
fn embedded_images_within_the_limits_are_still_drawn() {
    // struct-image-04-t.svg embeds a JPEG (upper right) and a PNG (lower right), 240×150 each,
    // as data: URIs; both pass the checks and are rendered.
    let p = run(
        "images/struct-image-04-t.svg",
        &ProcessOptions {
            rasterize: true,
            format: OutputFormat::Png,
            ..Default::default()
        },
    );
    let img = decode(&p).to_rgba8();
    assert_eq!((img.width(), img.height()), (480, 360));
    for (x0, y0) in [(240, 0), (240, 150)] {
        let colours: std::collections::HashSet<[u8; 4]> = (0..150)
            .flat_map(|y| (0..240).map(move |x| (x0 + x, y0 + y)))
            .step_by(97)
            .map(|(x, y)| img.get_pixel(x, y).0)
            .collect();
        assert!(colours.len() > 10, "the image at {x0},{y0} was not drawn");
    }
}

#[test]
fn svg_corpus_files_all_sanitize() {
    for name in ["struct-image-04-t.svg", "check.svg", "circle.svg"] {
        let p = run(&format!("images/{name}"), &opts(OutputFormat::Auto));
        assert!(p.width > 0 && p.height > 0, "{name}");
    }
}
