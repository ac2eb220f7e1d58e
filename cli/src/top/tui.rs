//! `lanes top` in a terminal (ratatui on crossterm): a table of tunnels by
//! CPU, redrawn every interval; `q`, Esc or Ctrl-C quits.

use std::time::{Duration, Instant};

use anyhow::Result;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Row, Table};
use ratatui::{DefaultTerminal, Frame};

use super::plain;
use super::rates::View;

/// Runs the view until the user quits; `fetch` gives each interval's rates.
pub fn run(fetch: impl FnMut() -> Result<View>, interval: Duration) -> Result<()> {
    let mut terminal = ratatui::try_init()?;
    let r = run_loop(&mut terminal, fetch, interval);
    ratatui::try_restore()?;
    r
}

fn run_loop(
    terminal: &mut DefaultTerminal,
    mut fetch: impl FnMut() -> Result<View>,
    interval: Duration,
) -> Result<()> {
    let (mut view, mut error) = (View::default(), None);
    let mut next = Instant::now();
    loop {
        if Instant::now() >= next {
            match fetch() {
                Ok(v) => (view, error) = (v, None),
                Err(e) => error = Some(format!("{e:#}")),
            }
            next += interval;
        }
        terminal.draw(|f| draw(f, &view, error.as_deref()))?;
        if event::poll(next.saturating_duration_since(Instant::now()))?
            && let Event::Key(k) = event::read()?
            && k.kind == KeyEventKind::Press
            && (matches!(k.code, KeyCode::Char('q') | KeyCode::Esc)
                || (k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL)))
        {
            return Ok(());
        }
    }
}

fn draw(f: &mut Frame<'_>, view: &View, error: Option<&str>) {
    let [top, table, bottom] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(2),
    ])
    .areas(f.area());
    f.render_widget(Paragraph::new(plain::header(view)), top);
    let head = Row::new([
        "tunnel",
        "cpu",
        "in pps",
        "in Mbit/s",
        "out pps",
        "out Mbit/s",
    ])
    .style(Style::default().add_modifier(Modifier::BOLD));
    let rows = view.rows.iter().map(|r| {
        Row::new([
            r.tunnel.clone(),
            r.cpu_text(),
            format!("{:.0}", r.pps_in),
            format!("{:.2}", r.mbps_in),
            format!("{:.0}", r.pps_out),
            format!("{:.2}", r.mbps_out),
        ])
    });
    let widths = [
        Constraint::Min(16),
        Constraint::Length(9),
        Constraint::Length(10),
        Constraint::Length(10),
        Constraint::Length(10),
        Constraint::Length(10),
    ];
    let t = Table::new(rows, widths)
        .header(head)
        .block(Block::bordered().title("Child SAs by CPU"));
    f.render_widget(t, table);
    let mut lines = vec![Line::from(
        plain::steering(view).unwrap_or_else(|| "steering: no XDP counters".into()),
    )];
    lines.push(Line::from(match error {
        Some(e) => format!("daemon: {e}"),
        None => "q quits".into(),
    }));
    f.render_widget(Paragraph::new(lines), bottom);
}
