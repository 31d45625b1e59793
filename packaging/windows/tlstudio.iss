; Inno Setup script for TL Studio on Windows (Inno Setup 6).
; Build the folder first on Windows:  pyinstaller --noconfirm --distpath dist packaging\tlstudio.spec
; then:                               iscc packaging\windows\tlstudio.iss
; Per-user install by default (no admin rights needed); user data and caches
; live in %LOCALAPPDATA%\TLStudio (platformdirs), never in the install folder.

#define AppName "TL Studio"
#ifndef AppVersion
  ; keep in step with pyproject.toml, or pass iscc /DAppVersion=X.Y.Z
  #define AppVersion "0.1.0"
#endif
#define AppExe "TLStudio.exe"
#define DistDir "..\..\dist\TLStudio"

[Setup]
AppId={{6B0E3C52-7D3A-4C1B-9A64-2E51C8F0A7D1}
AppName={#AppName}
AppVersion={#AppVersion}
AppPublisher=TL Studio
DefaultDirName={autopf}\TLStudio
DefaultGroupName={#AppName}
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=TLStudio-{#AppVersion}-windows-x64-setup
Compression=lzma2/fast
SolidCompression=no
DiskSpanning=no
UninstallDisplayIcon={app}\{#AppExe}
WizardStyle=modern

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#DistDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\{#AppExe}"
Name: "{group}\{#AppName} command line"; Filename: "{cmd}"; Parameters: "/k ""{app}\tlstudio-cli.exe"" --help"; WorkingDir: "{userdocs}"
Name: "{group}\Uninstall {#AppName}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent
