# Homebrew cask for Redline's macOS app: the universal .dmg that .github/workflows/release.yml
# attaches to a GitHub release (the app, and the `redline` command line inside it, linked onto
# PATH by `binary`). Before publishing it in a tap:
#   - replace OWNER with the account the repository lives under;
#   - set `version` to the release and `sha256` to the .dmg's line in the release's SHA256SUMS
#     (the release job prints it, and attaches this file with both filled in).
# Checked here with `ruby -c` and a stand-in for Homebrew's cask DSL (scripts/packaging/
# check-recipes.sh); `brew audit --cask` and `brew install --cask` have not been run (no macOS).
cask "redline" do
  version "0.1.0"
  sha256 :no_check

  url "https://github.com/OWNER/redline/releases/download/v#{version}/Redline_#{version}_universal.dmg"
  name "Redline"
  desc "Tray app that watches LLM API keys and coding-plan quotas"
  homepage "https://github.com/OWNER/redline"

  depends_on macos: ">= :ventura"

  app "Redline.app"
  binary "#{appdir}/Redline.app/Contents/MacOS/redline"

  # Keys stay in the login Keychain (items named "redline"): remove them with Keychain Access.
  zap trash: [
    "~/Library/Application Support/dev.redline.desktop",
    "~/Library/Application Support/dev.redline.redline",
    "~/Library/Caches/dev.redline.desktop",
    "~/Library/Caches/dev.redline.redline",
    "~/Library/LaunchAgents/Redline.plist",
    "~/Library/WebKit/dev.redline.desktop",
  ]
end
